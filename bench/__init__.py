"""Benchmarks that print figures (README, "Benchmark"); nothing depends on them.

A package run from the project's root: ``make bench`` (``python -m bench.run``, which then runs
the others, one process each), or one alone, e.g. ``.venv/bin/python -m bench.queue``.
"""
