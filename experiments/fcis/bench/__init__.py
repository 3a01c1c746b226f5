"""Benchmark subcommands of experiments/fcis/benchmark.py (one module each)."""
