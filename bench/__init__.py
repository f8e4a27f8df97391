"""Benchmarks: ``python -m bench.run_all`` (see bench/README.md)."""
