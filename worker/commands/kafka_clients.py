"""What the commands that talk to Kafka share."""
from __future__ import annotations

import argparse
import logging
import sys


class _NoSecretFlag(argparse.Action):
    """``--sasl-password X`` would otherwise abbreviate ``--sasl-password-file`` (argparse) and
    put the secret where ps shows it: refuse it by name and say what to use instead."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not an option (a password on the command line shows in ps): "
                     f"put it in a file for {option_string}-file, or in ${self.dest.upper()}")


def add_security_arguments(p: argparse.ArgumentParser) -> None:
    """The Kafka security flags, the same for run, produce and tail (docs/security.md). Every
    one also reads $DSW_<NAME> (e.g. DSW_SECURITY_PROTOCOL); passwords come only from a file or
    the environment, never from a flag (which ps would show)."""
    g = p.add_argument_group("Kafka security (librdkafka names in docs/security.md)")
    g.add_argument("--security-protocol", type=str.upper,
                   choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
                   help="security.protocol (default PLAINTEXT)")
    g.add_argument("--ssl-ca-file", metavar="PEM",
                   help="ssl.ca.location: CA that signed the brokers' certificates (default: the system's)")
    g.add_argument("--ssl-cert-file", metavar="PEM", help="ssl.certificate.location: client certificate (mTLS)")
    g.add_argument("--ssl-key-file", metavar="PEM", help="ssl.key.location: the client certificate's key")
    g.add_argument("--ssl-key-password-file", metavar="FILE",
                   help="file holding the key's password (else $DSW_SSL_KEY_PASSWORD)")
    g.add_argument("--ssl-check-hostname", action=argparse.BooleanOptionalAction, default=None,
                   help="verify that the broker's certificate names the host connected to (default on)")
    g.add_argument("--sasl-mechanism", type=str.upper,
                   choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"],
                   help="sasl.mechanism (default PLAIN with SASL_* protocols)")
    g.add_argument("--sasl-username", help="sasl.username")
    g.add_argument("--sasl-password-file", metavar="FILE",
                   help="file holding sasl.password (else $DSW_SASL_PASSWORD); there is no password flag")
    p.add_argument("--sasl-password", dest="dsw_sasl_password", action=_NoSecretFlag, help=argparse.SUPPRESS)
    p.add_argument("--ssl-key-password", dest="dsw_ssl_key_password", action=_NoSecretFlag, help=argparse.SUPPRESS)
    g.add_argument("--sasl-oauth-token-file", metavar="FILE",
                   help="OAUTHBEARER: file holding the token, re-read at every authentication")
    g.add_argument("--sasl-oauth-token-command", metavar="CMD",
                   help="OAUTHBEARER: command that prints the token on stdout")


def security_from_args(args, command: str):
    """The KafkaSecurity of produce / tail, or None after printing a one-line error."""
    from worker.kafka_security import KafkaSecurity, KafkaSecurityError

    try:
        sec = KafkaSecurity.from_args(args)
        return sec, sec.client_kwargs()
    except KafkaSecurityError as e:
        print(f"dali-worker {command}: {e}", file=sys.stderr)
        return None


async def start_or_explain(client, command: str, bootstrap: str, security=None) -> bool:
    """Start an aiokafka client; if the broker cannot be reached, or refuses our TLS or SASL,
    say so in one line and how to fix it."""
    from aiokafka.errors import KafkaConnectionError

    from worker.kafka_security import KafkaSecurity, KafkaStartError, start_explained

    try:
        await start_explained(client.start, security or KafkaSecurity(), bootstrap)
        return True
    except KafkaStartError as e:
        await client.stop()
        print(f"dali-worker {command}: {e}", file=sys.stderr)
        return False
    except KafkaConnectionError as e:
        await client.stop()
        print(f"dali-worker {command}: cannot reach Kafka at {bootstrap} ({e}); start one with "
              "`dali-worker dev-kafka` or set --bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS",
              file=sys.stderr)
        return False


class _QuietMissingTopic(logging.Filter):
    """aiokafka logs an ERROR each time it looks up a topic the broker is about to auto-create;
    a missing topic that stays missing is reported by the send itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not found in cluster metadata" not in record.getMessage()


def quiet_missing_topic_errors() -> None:
    log = logging.getLogger("aiokafka.cluster")
    if not any(isinstance(f, _QuietMissingTopic) for f in log.filters):
        log.addFilter(_QuietMissingTopic())
