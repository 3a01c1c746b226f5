"""Small utilities: threads, image I/O, logging, checkpoints."""
