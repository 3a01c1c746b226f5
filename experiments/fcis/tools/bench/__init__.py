"""Benchmark subcommands of experiments/fcis/benchmark.py (one module each)."""
import lib  # noqa: F401  (thread count and numpy names for MXNet, before a module imports mxnet)
