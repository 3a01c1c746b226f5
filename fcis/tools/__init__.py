"""Command-line tools around the FCIS pipeline (``python -m fcis.tools.<name>``)."""
