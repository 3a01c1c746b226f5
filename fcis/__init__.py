"""FCIS model and pipeline (symbols, custom ops, loaders, training, testing)."""
import lib  # noqa: F401  (sets the default OpenMP thread count before MXNet is imported)
