"""The isolated runner's child processes, seen from the parent: start one (from a long-lived
thread, with its console in a file of its own), talk to it, notice when it dies or hangs."""
from __future__ import annotations

import concurrent.futures
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from . import ipc
from .errors import PipelineError

START_TIMEOUT_S = float(os.environ.get("DSW_ISOLATION_START_TIMEOUT_S", "300"))
CONSOLE_KEEP = 1 << 20          # the console file is emptied between requests past this size
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

_spawn_lock = threading.Lock()
_spawner: concurrent.futures.ThreadPoolExecutor | None = None


def _spawn(*args, **kwargs) -> subprocess.Popen:
    """Popen from one long-lived thread: PR_SET_PDEATHSIG fires when the *thread* that forked
    the child exits, and runners may be created or restart children in short-lived threads."""
    global _spawner
    with _spawn_lock:
        if _spawner is None:
            _spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dsw-isolation-spawn")
        pool = _spawner
    return pool.submit(subprocess.Popen, *args, **kwargs).result()


class Died(Exception):
    """The child ended (or was killed as hung) before answering."""

    def __init__(self, how: str, console_text: str, signame: str | None = None, hung: bool = False):
        super().__init__(how)
        self.how, self.console, self.signame, self.hung = how, console_text, signame, hung


class Child:
    """One child process: its socket, its console file, the shared regions it has mapped."""

    def __init__(self, spec: dict):
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.console_fd = os.memfd_create("dsw-isolation-console", os.MFD_CLOEXEC)
        fcntl.fcntl(self.console_fd, fcntl.F_SETFL, fcntl.fcntl(self.console_fd, fcntl.F_GETFL) | os.O_APPEND)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.proc = _spawn([sys.executable, "-m", "worker.pipeline.child", str(child_sock.fileno()),
                                str(os.getpid())], pass_fds=(child_sock.fileno(),), env=env,
                               stdin=subprocess.DEVNULL, stdout=self.console_fd, stderr=self.console_fd)
        finally:
            child_sock.close()
        self.chan = ipc.Channel(parent_sock)
        self.known: set[int] = set()         # region ids this child has mapped
        self.ready = False
        self.chan.send(spec)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        if self.ready:
            return
        mark = 0
        msg, _ = self._recv(timeout, mark)
        if msg.get("op") == "fatal":
            self.stop()
            raise PipelineError(f"the isolated DALI process could not build the pipeline: "
                                f"{msg['error']}" + (f" (console: {msg['console']})" if msg.get("console") else ""))
        self.ready = True

    def request(self, msg: dict, fds, timeout: float) -> tuple[dict, list[int]]:
        if os.fstat(self.console_fd).st_size > CONSOLE_KEEP:
            os.ftruncate(self.console_fd, 0)
        mark = os.fstat(self.console_fd).st_size
        try:
            self.chan.send(msg, fds)
        except OSError:                       # EPIPE: it died between requests
            pass
        return self._recv(timeout, mark)

    def _recv(self, timeout: float, mark: int):
        try:
            return self.chan.recv(timeout)
        except TimeoutError:
            self.proc.kill()
            self.proc.wait()
            raise Died(f"hung (no answer in {timeout:g} s; killed)", self.console_since(mark),
                       hung=True) from None
        except (ipc.ChannelClosed, OSError):
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            signame = None
            if rc < 0:
                try:
                    signame = signal.Signals(-rc).name
                except ValueError:
                    signame = f"signal {-rc}"
            how = f"killed by {signame}" if signame else f"exited with status {rc}"
            raise Died(how, self.console_since(mark), signame) from None

    def console_since(self, mark: int, limit: int = 65536) -> str:
        try:
            size = os.fstat(self.console_fd).st_size
            start = max(mark, size - limit)
            return os.pread(self.console_fd, size - start, start).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive():
            try:
                self.chan.send({"op": "exit"})
                self.proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.chan.close()
        try:
            os.close(self.console_fd)
        except OSError:
            pass


def kill_all(children: list) -> None:             # weakref.finalize: no reference to the runner
    for c in children:
        if c.proc.poll() is None:
            c.proc.kill()
