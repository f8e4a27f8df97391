"""The supervisor's slots: N per visible GPU, each child pinned to its GPU and seeing it as 0."""
from worker.config import load_config
from worker.supervisor import Supervisor


def test_procs_per_gpu_each_pinned(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    cfg = load_config(None, env={}, overrides={"input": "t", "pipeline": "p", "device": "gpu", "procs": 2})
    sup = Supervisor(cfg, ["--input", "t"])
    assert [(s.index, s.gpu) for s in sup.slots] == [(0, "0"), (1, "1"), (2, "0"), (3, "1")]
    cmd = sup.child_command(sup.slots[1])
    assert cmd[cmd.index("--device") + 1] == "0" and cmd[cmd.index("--slot") + 1] == "1"
    assert cmd[cmd.index("--procs") + 1] == "1"


def test_cpu_slots_share_the_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    cfg = load_config(None, env={}, overrides={"input": "t", "pipeline": "p", "procs": 4})
    sup = Supervisor(cfg, [])
    assert [s.gpu for s in sup.slots] == [None] * 4
    cmd = sup.child_command(sup.slots[0])
    assert cmd[cmd.index("--device") + 1] == "cpu" and cmd[cmd.index("--num-threads") + 1] == "4"


def test_a_child_our_stop_reached_before_its_handler_stopped_cleanly(monkeypatch):
    """Found by CI: SIGTERM to a child still starting (no handler yet, nothing consumed) ended it
    with -15, and the supervisor then exited 1 although nothing was left undrained."""
    import signal
    import subprocess

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    cfg = load_config(None, env={}, overrides={"input": "t", "pipeline": "p"})
    sup = Supervisor(cfg, [])
    slot = sup.slots[0]
    sup._stopping = True
    for signalled, want in ((True, 0), (False, -signal.SIGTERM)):
        slot.proc = subprocess.Popen(["sleep", "30"])
        slot.proc.send_signal(signal.SIGTERM)
        slot.signalled = signalled
        sup._on_exit(slot, slot.proc.wait(10))
        assert slot.stop_code == want
