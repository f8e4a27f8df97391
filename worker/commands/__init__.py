"""Sub-commands of ``dali-worker``; see worker/cli.py."""
