"""Benchmark scripts: each prints its figures; results are recorded in BENCHMARKS.md."""
