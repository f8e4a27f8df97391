"""Kafka security for every client the project makes (worker, produce, tail, admin): TLS, mTLS,
SASL PLAIN / SCRAM-SHA-256/512 / OAUTHBEARER, in one typed place.

Secrets never travel as values in flags or in the configuration: a password comes from a file
(``sasl_password_file``, ``ssl_key_password_file``) or from the environment (``DSW_SASL_PASSWORD``,
``DSW_SSL_KEY_PASSWORD``), so that ``ps`` and logs never show it. An OAUTHBEARER token comes from
a file that is re-read for every (re-)authentication, or from a command that prints it.

Names map onto librdkafka's (docs/security.md): security_protocol = security.protocol,
sasl_mechanism = sasl.mechanism (or sasl.mechanisms), sasl_username = sasl.username,
ssl_ca_file = ssl.ca.location, ssl_cert_file = ssl.certificate.location, ssl_key_file =
ssl.key.location, ssl_check_hostname = ssl.endpoint.identification.algorithm=https.

A client that cannot connect because of security (an untrusted or mismatching certificate,
refused credentials, a listener speaking another protocol) raises :class:`KafkaStartError`, a
one-line message that names the bootstrap servers, the protocol, the mechanism and the fix;
``dali-worker run`` treats it as a configuration error (exit 2, no restart).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import ssl
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from worker.errors import ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
PASSWORD_ENV = "DSW_SASL_PASSWORD"
KEY_PASSWORD_ENV = "DSW_SSL_KEY_PASSWORD"


class KafkaSecurityError(ConfigError):
    """The security settings are inconsistent or name a file that is not there."""


class KafkaStartError(RuntimeError):
    """A client could not connect for a reason that a restart cannot cure (TLS, SASL)."""


def _read_secret(path: str, what: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise KafkaSecurityError(f"{what} {path} cannot be read ({exc.strerror})") from None
    if not value:
        raise KafkaSecurityError(f"{what} {path} is empty")
    return value


@dataclass(frozen=True)
class KafkaSecurity:
    security_protocol: str = "PLAINTEXT"
    ssl_ca_file: str = ""           # PEM CA bundle that signed the brokers' certificates (default: the system's)
    ssl_cert_file: str = ""         # client certificate (PEM, with its chain): mTLS
    ssl_key_file: str = ""          # its private key (PEM)
    ssl_key_password_file: str = ""  # the key's password (else $DSW_SSL_KEY_PASSWORD)
    ssl_check_hostname: bool = True
    sasl_mechanism: str = ""        # default PLAIN with SASL_* protocols
    sasl_username: str = ""
    sasl_password_file: str = ""    # else $DSW_SASL_PASSWORD
    sasl_oauth_token_file: str = ""     # OAUTHBEARER: a file holding the token, re-read each time
    sasl_oauth_token_command: str = ""  # OAUTHBEARER: a command that prints the token

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_config(cls, cfg: Any) -> "KafkaSecurity":
        return cls(**{n: getattr(cfg, n) for n in cls.names()})

    @classmethod
    def from_args(cls, args: Any, env: Mapping[str, str] | None = None) -> "KafkaSecurity":
        """produce / tail: a flag, else $DSW_<NAME>, else the default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            v = getattr(args, f.name, None)
            if v is None and env.get(f"DSW_{f.name.upper()}"):
                v = env[f"DSW_{f.name.upper()}"]
                if isinstance(f.default, bool):
                    v = v.lower() in ("1", "true", "yes", "on")
            if v is not None:
                values[f.name] = v
        return cls(**values)

    # -- what it means ------------------------------------------------------------------------
    @property
    def protocol(self) -> str:
        return (self.security_protocol or "PLAINTEXT").upper()

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def mechanism(self) -> str:
        return (self.sasl_mechanism or "PLAIN").upper() if self.uses_sasl else ""

    @property
    def principal(self) -> str | None:
        """The principal the broker most likely sees (ACLs name it): the SASL user."""
        if self.uses_sasl and self.mechanism != "OAUTHBEARER" and self.sasl_username:
            return f"User:{self.sasl_username}"
        return None

    def describe(self) -> str:
        """Protocol, mechanism and user; never a secret."""
        out = self.protocol
        if self.uses_sasl:
            out += f" {self.mechanism}" + (f" as {self.sasl_username}" if self.sasl_username else "")
        if self.uses_tls and self.ssl_cert_file:
            out += " with a client certificate"
        return out

    def check(self, env: Mapping[str, str] | None = None) -> "KafkaSecurity":
        env = os.environ if env is None else env
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"security_protocol={self.security_protocol!r}; use one of {', '.join(PROTOCOLS)}")
        if self.sasl_mechanism and self.sasl_mechanism.upper() not in MECHANISMS:
            raise KafkaSecurityError(f"sasl_mechanism={self.sasl_mechanism!r}; use one of {', '.join(MECHANISMS)}")
        if not self.uses_tls:
            for n in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file"):
                if getattr(self, n):
                    raise KafkaSecurityError(f"{n} is set but security_protocol={self.protocol} does not use TLS: "
                                             "use SSL or SASL_SSL")
        if not self.uses_sasl:
            for n in ("sasl_mechanism", "sasl_username", "sasl_password_file",
                      "sasl_oauth_token_file", "sasl_oauth_token_command"):
                if getattr(self, n):
                    raise KafkaSecurityError(f"{n} is set but security_protocol={self.protocol} does not use SASL: "
                                             "use SASL_SSL (or SASL_PLAINTEXT)")
        for n in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password_file",
                  "sasl_password_file", "sasl_oauth_token_file"):
            path = getattr(self, n)
            if path and not Path(path).is_file():
                raise KafkaSecurityError(f"{n}: {path} does not exist or is not a file")
        if self.ssl_key_file and not self.ssl_cert_file:
            raise KafkaSecurityError("ssl_key_file without ssl_cert_file: give the client certificate too")
        if self.uses_sasl:
            if self.mechanism == "OAUTHBEARER":
                if bool(self.sasl_oauth_token_file) == bool(self.sasl_oauth_token_command):
                    raise KafkaSecurityError("sasl_mechanism=OAUTHBEARER needs one of sasl_oauth_token_file "
                                             "or sasl_oauth_token_command")
            else:
                if not self.sasl_username:
                    raise KafkaSecurityError(f"sasl_mechanism={self.mechanism} needs sasl_username")
                if not self.sasl_password_file and not env.get(PASSWORD_ENV):
                    raise KafkaSecurityError(f"sasl_mechanism={self.mechanism} needs a password: "
                                             f"sasl_password_file, or ${PASSWORD_ENV} in the environment")
        return self

    # -- what aiokafka gets ---------------------------------------------------------------------
    def ssl_context(self, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
        from aiokafka.helpers import create_ssl_context

        env = os.environ if env is None else env
        password = None
        if self.ssl_key_password_file:
            password = _read_secret(self.ssl_key_password_file, "ssl_key_password_file")
        elif env.get(KEY_PASSWORD_ENV):
            password = env[KEY_PASSWORD_ENV]
        try:
            ctx = create_ssl_context(cafile=self.ssl_ca_file or None, certfile=self.ssl_cert_file or None,
                                     keyfile=self.ssl_key_file or None, password=password)
        except ssl.SSLError as exc:
            what = ("ssl_cert_file / ssl_key_file (or the key's password)" if self.ssl_cert_file
                    else "ssl_ca_file")
            raise KafkaSecurityError(f"cannot load {what}: {exc.reason or exc}") from None
        except OSError as exc:
            raise KafkaSecurityError(f"cannot read a TLS file: {exc}") from None
        if not self.ssl_check_hostname:
            ctx.check_hostname = False  # the chain is still verified
        return ctx

    def client_kwargs(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        env = os.environ if env is None else env
        self.check(env)
        if self.protocol == "PLAINTEXT":
            return {}
        kw: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            kw["ssl_context"] = self.ssl_context(env)
        if self.uses_sasl:
            redact_sasl_in_logs()
            kw["sasl_mechanism"] = self.mechanism
            if self.mechanism == "OAUTHBEARER":
                answer_oauth_errors()
                kw["sasl_oauth_token_provider"] = TokenProvider(self.sasl_oauth_token_file,
                                                                self.sasl_oauth_token_command)
            else:
                kw["sasl_plain_username"] = self.sasl_username
                kw["sasl_plain_password"] = (_read_secret(self.sasl_password_file, "sasl_password_file")
                                             if self.sasl_password_file else env[PASSWORD_ENV])
        return kw


class _RedactSasl(logging.Filter):
    """aiokafka.conn logs every request at DEBUG, a SaslAuthenticate request with its bytes (for
    PLAIN: the password itself): keep the line, drop the bytes, whoever turned DEBUG on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(type(a).__name__.startswith("SaslAuthenticate")
                                                  for a in record.args):
            record.args = tuple("SaslAuthenticateRequest(<redacted>)"
                                if type(a).__name__.startswith("SaslAuthenticate") else a for a in record.args)
        return True


def redact_sasl_in_logs() -> None:
    log = logging.getLogger("aiokafka.conn")
    if not any(isinstance(f, _RedactSasl) for f in log.filters):
        log.addFilter(_RedactSasl())


def answer_oauth_errors() -> None:
    """A rejected OAUTHBEARER token must fail the authentication, not pass it.

    RFC 7628 3.2.2: a server that rejects the token answers with an error *challenge* (a JSON
    ``{"status": "invalid_token", ...}``) and waits for the client's ``%x01``, then fails the
    exchange. aiokafka 0.14's ``OAuthAuthenticator`` stops after sending the token and takes
    that challenge for success ("Authenticated via OAUTHBEARER"): the broker then answers every
    request of that connection with nothing, and a worker with an expired or garbage token hung
    forever, logging "Unable to update metadata" 58 times a second. Patched here: a challenge
    after the token is answered with ``%x01``, so the broker fails the exchange
    (SaslAuthenticationFailedError) and the start stops with one line. The challenge is logged
    (WARNING, aiokafka.conn), so that the line can say what the broker found wrong."""
    from aiokafka import conn

    auth = conn.OAuthAuthenticator
    if getattr(auth, "_dsw_answers_errors", False):
        return
    original = auth.step

    async def step(self, payload):
        if getattr(self, "_token_sent", False):
            if payload and not getattr(self, "_dsw_error_answered", False):
                self._dsw_error_answered = True
                text = bytes(payload).decode("utf-8", "replace")[:300]
                logging.getLogger("aiokafka.conn").warning(
                    "OAUTHBEARER: the broker rejected the token: %s", text)
                return b"\x01", True
            return None
        return await original(self, payload)

    auth.step = step
    auth._dsw_answers_errors = True


def _token_provider_base():
    from aiokafka.abc import AbstractTokenProvider

    return AbstractTokenProvider


class TokenProvider(_token_provider_base()):
    """OAUTHBEARER: the token from a file (re-read at every authentication, so a sidecar can
    refresh it) or from a command's standard output (e.g. a cloud CLI)."""

    def __init__(self, path: str = "", command: str = "", timeout_s: float = 30.0):
        self.path, self.command, self.timeout_s = path, command, timeout_s

    def _get(self) -> str:
        if self.path:
            return _read_secret(self.path, "sasl_oauth_token_file")
        try:
            proc = subprocess.run(shlex.split(self.command), capture_output=True, text=True,
                                  timeout=self.timeout_s, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KafkaSecurityError(f"sasl_oauth_token_command failed to run: {exc}") from None
        token = proc.stdout.strip()
        if proc.returncode != 0 or not token:
            # stderr may say why; stdout may hold a partial secret, so it is never shown
            raise KafkaSecurityError(f"sasl_oauth_token_command exited with {proc.returncode} and "
                                     f"{'no token' if not token else 'a token'}: {proc.stderr.strip()[-300:]}")
        return token

    async def token(self) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, self._get)


# ---- explaining a failed start ---------------------------------------------------------------

class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:
            pass


def diagnose(sec: KafkaSecurity, bootstrap: str, errors: list[str]) -> tuple[str, str] | None:
    """(cause, fix) when the errors seen at bootstrap are about security; None when they look
    transient (nothing listening yet, a timeout): those a restart may cure."""
    text = " | ".join(errors)
    low = text.lower()
    mech = sec.mechanism or "none"
    if "certificate verify failed" in low or "certificate_verify_failed" in low:
        if "hostname mismatch" in low or "ip address mismatch" in low or "doesn't match" in low:
            return ("the broker's certificate does not name the host in bootstrap_servers",
                    "connect by a host name the certificate carries (or, only for a test, "
                    "ssl_check_hostname=false)")
        return ("the broker's TLS certificate is not signed by a trusted CA",
                "set ssl_ca_file (librdkafka ssl.ca.location) to the PEM of the CA that signed the "
                "brokers' certificates")
    if "wrong version number" in low or "wrong_version_number" in low or "record layer failure" in low \
            or "packet length too long" in low or "unknown protocol" in low:
        return ("the listener does not speak TLS",
                "use security_protocol=PLAINTEXT or SASL_PLAINTEXT for this listener, or the TLS port")
    if "tlsv1 alert" in low or "alert certificate required" in low or "alert bad certificate" in low \
            or "alert handshake failure" in low:
        return ("the broker refused the TLS handshake (it may require a client certificate)",
                "give ssl_cert_file and ssl_key_file signed by a CA the broker trusts")
    if "unsupportedsaslmechanism" in low or "unsupported sasl mechanism" in low:
        return (f"the listener does not enable SASL mechanism {mech}",
                "set sasl_mechanism to one the listener enables (the broker's sasl.enabled.mechanisms)")
    if "authentication failed" in low or "saslauthenticationfailed" in low or "illegalsaslstate" in low \
            or "authentication" in low and "fail" in low:
        if sec.mechanism == "OAUTHBEARER":
            found = re.search(r'"status"\s*:\s*"([^"]+)"', text)
            return ("the broker refused the OAUTHBEARER token" + (f" ({found.group(1)})" if found else ""),
                    _oauth_fix(sec))
        who = f"user {sec.sasl_username!r}" if sec.sasl_username else "the client"
        return (f"the broker refused the credentials of {who} with {mech}",
                "check sasl_username and the password (sasl_password_file or $DSW_SASL_PASSWORD), "
                "and that the mechanism matches how the user was created (SCRAM-SHA-256 vs -512)")
    if re.search(r"connection (at \S+ )?closed|connection reset|unexpected eof|eof occurred|broken pipe"
                 r"|connection lost", low):
        if sec.uses_tls and sec.ssl_cert_file:
            # TLS 1.3: the server checks a client certificate after the handshake and just closes
            return ("the broker closed the connection after TLS: it may not trust the client certificate",
                    "give ssl_cert_file and ssl_key_file signed by a CA the broker trusts (its "
                    "ssl.truststore), or leave them out if the listener does not use mTLS")
        if sec.protocol == "PLAINTEXT":
            return ("the broker closed the connection: the listener needs TLS and/or SASL",
                    "set security_protocol (SASL_SSL, SSL or SASL_PLAINTEXT) and its credentials as the "
                    "cluster requires")
        if sec.protocol == "SSL":
            return ("the broker closed the connection after TLS: the listener probably needs SASL",
                    "use security_protocol=SASL_SSL with sasl_mechanism and credentials")
        if sec.protocol == "SASL_PLAINTEXT":
            return ("the broker closed the connection: the listener probably needs TLS",
                    "use security_protocol=SASL_SSL (with ssl_ca_file if its CA is private)")
        return (f"the broker closed the connection during {sec.protocol} {mech}",
                "check security_protocol and sasl_mechanism against the listener's")
    return None


def _oauth_fix(sec: KafkaSecurity) -> str:
    where = (f"sasl_oauth_token_file {sec.sasl_oauth_token_file} holds" if sec.sasl_oauth_token_file
             else "sasl_oauth_token_command prints")
    return (f"check the token {where}: not expired, issued for this cluster (audience, issuer) with "
            "the scope the broker's validator requires")


async def start_explained(start, sec: KafkaSecurity, bootstrap: str) -> None:
    """``await start()`` (an aiokafka client's), turning a security failure into one
    :class:`KafkaStartError` line naming bootstrap, protocol, mechanism and fix."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    rec = _Recorder()
    log = logging.getLogger("aiokafka")
    log.addHandler(rec)
    try:
        await start()
    except KafkaSecurityError as exc:  # e.g. the token provider failed while connecting
        raise KafkaStartError(f"cannot connect to Kafka at {bootstrap} with {sec.describe()}: {exc}") from None
    except (KafkaConnectionError, KafkaError, OSError, asyncio.TimeoutError) as exc:
        found = diagnose(sec, bootstrap, rec.messages + [f"{type(exc).__name__}: {exc}"])
        if found is None:
            if rec.messages and isinstance(exc, KafkaConnectionError):
                # "Unable to bootstrap from [(host, port, <AddressFamily...>)]" says less than
                # what aiokafka logged on the way (refused, timed out, no such host)
                raise KafkaConnectionError(rec.messages[-1]) from exc
            raise
        cause, fix = found
        raise KafkaStartError(f"cannot connect to Kafka at {bootstrap} with {sec.describe()}: {cause}; "
                              f"fix: {fix}") from None
    finally:
        log.removeHandler(rec)
