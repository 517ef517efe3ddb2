"""Benchmarks and acceptance measurements: they print figures, tests assert behaviour."""
