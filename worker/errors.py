"""What every layer may raise about the configuration, and the exit code that goes with it.
A leaf module: the configuration, the Kafka security options and the commands all import it."""
from __future__ import annotations

# the exit code of a worker that cannot start as configured: restarting it would fail the same
# way, so the supervisor stops on it instead of restarting it forever
EXIT_CONFIG = 2


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the field and the fix."""
