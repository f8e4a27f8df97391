"""Kafka security against a real secured broker (SASL_SSL, SCRAM, ACLs; tests/secure_kafka.py):
the worker, produce and tail with the right credentials deliver; without credentials, with a
wrong password or an untrusted CA they stop at start with one line naming the listener, the
mechanism and the fix; an ACL that denies a write stops the worker without committing; and no
secret ever reaches a log."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from tests.secure_kafka import secure_kafka  # noqa: F401  (the fixture)
from tests.worker_harness import WorkerProcess, corrupt_jpeg, small_jpegs
from worker.kafka_security import KafkaSecurity, KafkaSecurityError, TokenProvider

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def _names(prefix_in: str, prefix_out: str, prefix_dlq: str) -> tuple[str, str, str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"{prefix_in}.{tag}-in", f"{prefix_out}.{tag}-out", f"{prefix_dlq}.{tag}-dlq", f"ok.g-{tag}"


def _worker_args(sk, tin, tout, tdlq, group, *flags) -> list[str]:
    return ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", group,
            "--pipeline", "classify_reduce", "--max-delay-ms", "20", "--commit-interval-ms", "300",
            "--num-threads", "2", *flags]


def _photos(folder: Path, n: int) -> set[str]:
    folder.mkdir(parents=True, exist_ok=True)
    photos = small_jpegs(8)
    for i in range(n):
        (folder / f"img-{i:03d}.jpg").write_bytes(photos[i % len(photos)])
    return {f"img-{i:03d}.jpg" for i in range(n)}


def _tail_ids(sk, topic: str, count: int, user: str = "admin", timeout: float = 30) -> list[dict]:
    p = _cli("tail", "--topic", topic, "--bootstrap-servers", sk.bootstrap, "--from-beginning", "--json",
             "--count", str(count), "--timeout", str(timeout), *sk.flags(user), timeout=timeout + 30)
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


async def _committed(sk, group: str, topic: str, partitions: int = 1) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=sk.bootstrap, group_id=group, enable_auto_commit=False,
                                **sk.kwargs("admin"))
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await consumer.stop()


def _no_secrets(sk, *texts: str) -> None:
    for text in texts:
        for user, pw in sk.passwords.items():
            assert pw not in text, f"the password of {user} appears in a log"


# ---- the worker, produce and tail with the right credentials ---------------------------------

def test_worker_produce_tail_deliver_every_id_over_sasl_ssl(secure_kafka, tmp_path):
    sk = secure_kafka
    tin, tout, tdlq, group = _names("ok", "ok", "ok")
    sk.create_topics([tin, tout, tdlq], partitions=2)
    ids = _photos(tmp_path / "photos", 30)
    # produce as alice (SCRAM-SHA-256 this time), the password from the environment
    env = {"DSW_SASL_PASSWORD": sk.passwords["alice"]}
    p = _cli("produce", str(tmp_path / "photos"), "--topic", tin, "--bootstrap-servers", sk.bootstrap,
             "--security-protocol", "SASL_SSL", "--ssl-ca-file", str(sk.ca_file),
             "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", "alice", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "sent 30 of 30" in p.stdout
    # the worker as alice, every setting from the environment (DSW_*), the password from a file
    wenv = {"DSW_SECURITY_PROTOCOL": "SASL_SSL", "DSW_SSL_CA_FILE": str(sk.ca_file),
            "DSW_SASL_MECHANISM": "SCRAM-SHA-512", "DSW_SASL_USERNAME": "alice",
            "DSW_SASL_PASSWORD_FILE": str(sk.password_file("alice"))}
    with WorkerProcess(sk.bootstrap, _worker_args(sk, tin, tout, tdlq, group), tmp_path / "w.log",
                       env=wenv) as w:
        got = _tail_ids(sk, tout, 30, user="alice", timeout=90)
        assert w.terminate() == 0, w.log()[-3000:]
        log = w.log()
    assert {d["id"] for d in got} == ids and all(d["kind"] == "result" for d in got)
    assert asyncio.run(_committed(sk, group, tin, 2)) != {0: None, 1: None}
    _no_secrets(sk, log, p.stdout, p.stderr)


def test_no_secret_in_aiokafka_debug_logs(secure_kafka, caplog):
    """Even with aiokafka at DEBUG (it logs every request, SASL PLAIN's password among them)."""
    from aiokafka.admin import AIOKafkaAdminClient

    sk = secure_kafka

    async def connect(mechanism):
        admin = AIOKafkaAdminClient(bootstrap_servers=sk.bootstrap, **sk.kwargs("alice", mechanism=mechanism))
        await admin.start()
        try:
            await admin.list_topics()
        finally:
            await admin.close()

    with caplog.at_level(logging.DEBUG, logger="aiokafka"):
        for mechanism in ("PLAIN", "SCRAM-SHA-256"):
            asyncio.run(connect(mechanism))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "SaslAuthenticateRequest(<redacted>)" in text
    _no_secrets(sk, text)


# ---- start-up failures: one line, exit non-zero, no retry loop ---------------------------------

def _run_fails(sk, tmp_path, flags: list[str], name: str) -> tuple[int, str, float]:
    tin, tout, tdlq, group = _names("ok", "ok", "ok")
    start = time.monotonic()
    with WorkerProcess(sk.bootstrap, _worker_args(sk, tin, tout, tdlq, group, *flags),
                       tmp_path / f"{name}.log") as w:
        try:
            code = w.proc.wait(90)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker kept trying instead of stopping:\n{w.log()[-3000:]}")
        return code, w.log(), time.monotonic() - start


def _error_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if "configuration error" in ln]
    assert lines, log[-3000:]
    return lines[0]


def test_run_without_credentials_stops_at_start(secure_kafka, tmp_path):
    code, log, took = _run_fails(secure_kafka, tmp_path, [], "plain")
    assert code == 2, log[-3000:]
    line = _error_line(log)
    assert secure_kafka.bootstrap in line and "PLAINTEXT" in line and "security_protocol" in line, line
    assert log.count("configuration error") == 1, "restarted instead of stopping"


def test_run_with_a_wrong_password_stops_at_start(secure_kafka, tmp_path):
    sk = secure_kafka
    code, log, took = _run_fails(sk, tmp_path, sk.flags("alice", password="not-" + sk.passwords["alice"]), "pw")
    assert code == 2, log[-3000:]
    line = _error_line(log)
    assert sk.bootstrap in line and "SASL_SSL" in line and "SCRAM-SHA-512" in line, line
    assert "refused the credentials" in line and "sasl_password_file" in line, line
    _one_clean_line(log, took)
    _no_secrets(sk, log)
    assert "not-" + sk.passwords["alice"] not in log


def test_run_with_an_untrusted_ca_stops_at_start(secure_kafka, tmp_path):
    from worker.devkafka import make_certificates

    sk = secure_kafka
    other = make_certificates(tmp_path / "other-ca")["ca"]
    code, log, took = _run_fails(sk, tmp_path, sk.flags("alice", ca_file=other), "ca")
    assert code == 2, log[-3000:]
    line = _error_line(log)
    assert sk.bootstrap in line and "SASL_SSL" in line and "not signed by a trusted CA" in line, line
    assert "ssl_ca_file" in line, line
    _one_clean_line(log, took)


def _one_clean_line(log: str, took: float) -> None:
    """Issue 28: a refused start is one line and exit 2 within 30 s, no traceback, no repeats."""
    assert took < 30, f"took {took:.0f} s to stop"
    assert log.count("configuration error") == 1 and "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("token", ["garbage", "expired"])
def test_run_with_a_rejected_oauthbearer_token_stops_at_start(secure_kafka, tmp_path, token):
    """A broker that validates tokens answers a bad one with an error challenge (RFC 7628);
    aiokafka 0.14 took it for success and the worker hung, logging 58 lines a second."""
    from worker.devkafka import unsecured_jwt

    sk = secure_kafka
    path = tmp_path / "token"
    path.write_text("not.a-jwt.at-all\n" if token == "garbage" else unsecured_jwt("alice", lifetime_s=-600) + "\n")
    flags = ["--security-protocol", "SASL_SSL", "--ssl-ca-file", str(sk.ca_file), "--sasl-mechanism",
             "OAUTHBEARER", "--sasl-oauth-token-file", str(path)]
    code, log, took = _run_fails(sk, tmp_path, flags, token)
    assert code == 2, log[-3000:]
    line = _error_line(log)
    print(f"\n{token} token: exit {code} after {took:.1f} s: {line}")
    assert sk.bootstrap in line and "SASL_SSL OAUTHBEARER" in line and "refused the OAUTHBEARER token" in line, line
    assert "invalid_token" in line and f"sasl_oauth_token_file {path}" in line, line
    _one_clean_line(log, took)


def test_produce_and_tail_explain_refused_credentials(secure_kafka, tmp_path):
    sk = secure_kafka
    _photos(tmp_path / "p", 1)
    bad = sk.flags("alice", password="wrong")
    p = _cli("produce", str(tmp_path / "p"), "--topic", "ok.x", "--bootstrap-servers", sk.bootstrap, *bad)
    t = _cli("tail", "--topic", "ok.x", "--bootstrap-servers", sk.bootstrap, "--timeout", "1", *bad)
    for proc, cmd in ((p, "produce"), (t, "tail")):
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"dali-worker {cmd}: cannot connect to Kafka at {sk.bootstrap} with SASL_SSL SCRAM-SHA-512" \
            in proc.stderr and "refused the credentials" in proc.stderr
        _no_secrets(sk, proc.stdout, proc.stderr)


def test_oauthbearer_token_from_a_command_and_a_file(secure_kafka, tmp_path):
    """OAUTHBEARER end to end: the broker's unsecured validator takes an unsigned JWT for
    User:alice, from a command and from a file; a command that fails stops the start in one line."""
    from worker.devkafka import unsecured_jwt

    sk = secure_kafka
    base = ["tail", "--topic", "ok.oauth", "--bootstrap-servers", sk.bootstrap, "--timeout", "1",
            "--security-protocol", "SASL_SSL", "--ssl-ca-file", str(sk.ca_file), "--sasl-mechanism", "OAUTHBEARER"]
    token = tmp_path / "token"
    token.write_text(unsecured_jwt("alice") + "\n")
    by_file = _cli(*base, "--sasl-oauth-token-file", str(token))
    assert by_file.returncode == 0, by_file.stderr[-2000:]
    by_command = _cli(*base, "--sasl-oauth-token-command", f"cat {token}")
    assert by_command.returncode == 0, by_command.stderr[-2000:]
    failing = _cli(*base, "--sasl-oauth-token-command", f"{sys.executable} -c \"import sys; sys.exit('no login')\"")
    assert failing.returncode == 2, failing.stderr[-2000:]
    assert f"cannot connect to Kafka at {sk.bootstrap} with SASL_SSL OAUTHBEARER: sasl_oauth_token_command " \
           "exited with 1 and no token: no login" in failing.stderr, failing.stderr[-2000:]
    assert unsecured_jwt("alice").split(".")[1] not in by_file.stderr + by_command.stderr


def test_tail_with_a_client_certificate(secure_kafka, tmp_path):
    """mTLS: a client certificate from the broker's CA is accepted; one from another CA makes the
    broker refuse the handshake, and the error says what to give."""
    from worker.devkafka import make_certificates

    sk = secure_kafka
    tls = Path(sk.ca_file).parent
    ok = _cli("tail", "--topic", "ok.mtls", "--bootstrap-servers", sk.bootstrap, "--timeout", "1",
              "--ssl-cert-file", str(tls / "client.crt"), "--ssl-key-file", str(tls / "client.key"),
              *sk.flags("alice"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    other = make_certificates(tmp_path / "other")
    bad = _cli("tail", "--topic", "ok.mtls", "--bootstrap-servers", sk.bootstrap, "--timeout", "1",
               "--ssl-cert-file", str(other["client_cert"]), "--ssl-key-file", str(other["client_key"]),
               *sk.flags("alice"))
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert f"cannot connect to Kafka at {sk.bootstrap} with SASL_SSL SCRAM-SHA-512 as alice with a client " \
           "certificate" in bad.stderr and "ssl_cert_file" in bad.stderr, bad.stderr[-2000:]


# ---- ACLs: a denied write stops the worker, commits nothing, loses nothing --------------------

@pytest.mark.parametrize("denied", ["output", "dead_letter"])
def test_acl_denied_write_stops_without_commit(secure_kafka, tmp_path, denied):
    sk = secure_kafka
    tin, tout, tdlq, group = _names("ok", "ro" if denied == "output" else "ok",
                                    "ro" if denied == "dead_letter" else "ok")
    sk.create_topics([tin, tout, tdlq], partitions=1)
    # every input needs a write to the denied topic: good photos for the output, corrupt for DLQ
    items = ([(f"img-{i}", v) for i, v in enumerate(small_jpegs(5))] if denied == "output"
             else [(f"bad-{i}", corrupt_jpeg(i)) for i in range(5)])
    asyncio.run(_produce_admin(sk, tin, items))
    with WorkerProcess(sk.bootstrap, _worker_args(sk, tin, tout, tdlq, group, "--no-supervise",
                                                  *sk.flags("alice")), tmp_path / "w.log") as w:
        try:
            code = w.proc.wait(90)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not stop on the denied write:\n{w.log()[-3000:]}")
        log = w.log()
    denied_topic = tout if denied == "output" else tdlq
    assert code != 0, log[-3000:]
    assert f"denied operation WRITE on topic {denied_topic!r} to User:alice" in log, log[-3000:]
    assert "--operation Write" in log
    assert asyncio.run(_committed(sk, group, tin)) == {0: None}, "committed past an unwritten outcome"
    _no_secrets(sk, log)
    if denied == "output":
        # loses nothing: once the ACL allows the write, a restarted worker delivers every input
        sk.broker.add_acls([("TOPIC", "LITERAL", tout, "User:alice", "WRITE", "ALLOW")])
        with WorkerProcess(sk.bootstrap, _worker_args(sk, tin, tout, tdlq, group, *sk.flags("alice")),
                           tmp_path / "w2.log") as w2:
            got = _tail_ids(sk, tout, len(items), timeout=90)
            assert w2.terminate() == 0, w2.log()[-3000:]
        assert {d["id"] for d in got} == {k for k, _ in items}


async def _produce_admin(sk, topic: str, items: list[tuple[str, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=sk.bootstrap, acks="all", **sk.kwargs("admin"))
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


# ---- configuration without a broker ------------------------------------------------------------

def test_configuration_errors_name_the_option(tmp_path, monkeypatch):
    monkeypatch.delenv("DSW_SASL_PASSWORD", raising=False)
    with pytest.raises(KafkaSecurityError, match="needs a password: sasl_password_file, or \\$DSW_SASL_PASSWORD"):
        KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="u").check()
    with pytest.raises(KafkaSecurityError, match="ssl_ca_file is set but security_protocol=PLAINTEXT"):
        KafkaSecurity(ssl_ca_file=str(tmp_path)).check()
    with pytest.raises(KafkaSecurityError, match="OAUTHBEARER needs one of"):
        KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER").check()
    with pytest.raises(KafkaSecurityError, match="does not exist"):
        KafkaSecurity(security_protocol="SSL", ssl_ca_file=str(tmp_path / "nope.pem")).check()
    # the environment supplies the password; the default mechanism is PLAIN
    kw = KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_username="u").client_kwargs(
        env={"DSW_SASL_PASSWORD": "s3cret"})
    assert kw["sasl_mechanism"] == "PLAIN" and kw["sasl_plain_password"] == "s3cret"
    # the worker's configuration carries them too, and run rejects a password flag
    from worker.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="security_protocol='TLS'"):
        load_config(env={"DSW_SECURITY_PROTOCOL": "TLS", "DSW_ROUTE_INPUT": "a", "DSW_ROUTE_PIPELINE": "p"})
    # the supervisor hands the flags to its children, a negative boolean as --no-...
    import argparse

    from worker.commands import run as run_cmd

    parser = argparse.ArgumentParser()
    run_cmd.add_arguments(parser)
    args = parser.parse_args(["--input", "a", "--security-protocol", "sasl_ssl", "--no-ssl-check-hostname",
                              "--sasl-username", "u", "--sasl-password-file", "/run/secrets/pw"])
    argv = run_cmd._child_argv(args)
    assert "--no-ssl-check-hostname" in argv and argv[argv.index("--security-protocol") + 1] == "SASL_SSL"
    assert parser.parse_args(argv).ssl_check_hostname is False
    p = _cli("run", "--input", "a", "--pipeline", "p", "--sasl-password", "x")
    assert p.returncode == 2 and "--sasl-password is not an option" in p.stderr and "$DSW_SASL_PASSWORD" in p.stderr


def test_oauth_token_from_a_file_and_a_command(tmp_path):
    f = tmp_path / "token"
    f.write_text("tok-1\n")
    provider = TokenProvider(path=str(f))
    assert asyncio.run(provider.token()) == "tok-1"
    f.write_text("tok-2\n")  # re-read at every authentication
    assert asyncio.run(provider.token()) == "tok-2"
    assert asyncio.run(TokenProvider(command=f"{sys.executable} -c \"print('tok-3')\"").token()) == "tok-3"
    with pytest.raises(KafkaSecurityError, match="exited with 3"):
        asyncio.run(TokenProvider(command=f"{sys.executable} -c \"import sys; sys.exit(3)\"").token())
    kw = KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
                       sasl_oauth_token_file=str(f)).client_kwargs()
    assert isinstance(kw["sasl_oauth_token_provider"], TokenProvider) and "ssl_context" in kw
