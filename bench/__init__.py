"""Gatehouse benchmark suite (`python -m bench`, `make bench`): every performance
target measured as a ratio against its baseline, side by side in one run, on SQLite and on
PostgreSQL. See docs/benchmarks.md for the figures and how to read them.

Never imported by the application or by `make test`: benchmarks assert nothing about time.
"""
