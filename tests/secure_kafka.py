"""A secured Kafka for the security tests: the development broker in its SASL_SSL mode
(worker/devkafka.py: generated CA, SCRAM users, StandardAuthorizer ACLs, admin the super user).

Users and what their ACLs allow (prefixed patterns, set once when the session's broker starts):

* ``admin``: super user; the tests create topics and read results with it.
* ``alice``: everything on topics and groups named ``ok.*``; only READ and DESCRIBE on topics
  named ``ro.*`` (so a worker writing to a ``ro.`` topic is denied WRITE).

Import the fixture in a test module: ``from tests.secure_kafka import secure_kafka``.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from worker.kafka_security import KafkaSecurity

log = logging.getLogger("tests.kafka")


@dataclass
class SecureKafka:
    bootstrap: str
    ca_file: Path
    folder: Path        # where password files live
    passwords: dict[str, str]
    broker: object

    def password_file(self, user: str, password: str | None = None) -> Path:
        path = self.folder / f"{user}-{secrets.token_hex(3)}.password"
        path.write_text((self.passwords[user] if password is None else password) + "\n")
        path.chmod(0o600)
        return path

    def security(self, user: str = "admin", mechanism: str = "SCRAM-SHA-512",
                 password: str | None = None) -> KafkaSecurity:
        return KafkaSecurity(security_protocol="SASL_SSL", ssl_ca_file=str(self.ca_file),
                             sasl_mechanism=mechanism, sasl_username=user,
                             sasl_password_file=str(self.password_file(user, password)))

    def kwargs(self, user: str = "admin", **kw) -> dict:
        """aiokafka keyword arguments for ``user``."""
        return self.security(user, **kw).client_kwargs()

    def flags(self, user: str = "alice", mechanism: str = "SCRAM-SHA-512", password: str | None = None,
              ca_file: Path | None = None) -> list[str]:
        """The command-line flags of run / produce / tail for ``user``."""
        return ["--security-protocol", "SASL_SSL", "--ssl-ca-file", str(ca_file or self.ca_file),
                "--sasl-mechanism", mechanism, "--sasl-username", user,
                "--sasl-password-file", str(self.password_file(user, password))]

    def create_topics(self, names: list[str], partitions: int = 1) -> None:
        from worker.devkafka import create_topics

        asyncio.run(create_topics(self.bootstrap, names, partitions=partitions, **self.kwargs("admin")))


async def _wait_until_serving(bootstrap: str, kwargs: dict, timeout: float = 60) -> None:
    """The port opens before SCRAM credentials and ACLs are served: wait for a real request."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kwargs)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory):
    from worker.devkafka import KafkaBroker

    folder = tmp_path_factory.mktemp("secure-kafka")
    passwords = {"alice": secrets.token_urlsafe(12)}
    broker = KafkaBroker(secure=True, users=dict(passwords))
    with broker:
        passwords["admin"] = broker.admin_password
        sk = SecureKafka(broker.bootstrap_servers, broker.ca_file, folder, passwords, broker)
        asyncio.run(_wait_until_serving(sk.bootstrap, sk.kwargs("admin")))
        broker.add_acls([
            ("TOPIC", "PREFIXED", "ok.", "User:alice", "ALL", "ALLOW"),
            ("GROUP", "PREFIXED", "ok.", "User:alice", "ALL", "ALLOW"),
            ("TOPIC", "PREFIXED", "ro.", "User:alice", "READ", "ALLOW"),
            ("TOPIC", "PREFIXED", "ro.", "User:alice", "DESCRIBE", "ALLOW"),
        ])
        log.info("secured Kafka at %s", sk.bootstrap)
        yield sk
