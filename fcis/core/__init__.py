"""FCIS pipeline core: data loaders, training module, metrics, tester."""
