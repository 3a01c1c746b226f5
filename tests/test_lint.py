"""ruff (pinned in requirements.txt, rules in ruff.toml) over the whole tree."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_passes_on_the_whole_tree():
    proc = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '.'], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, 'ruff check . found:\n' + proc.stdout[-6000:] + proc.stderr
