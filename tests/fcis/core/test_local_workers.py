"""fcis.core.local_workers from a user's own script: a script that trains when imported
(no ``__main__`` guard) ends with one error that names the fix, not with the tracebacks of
workers starting workers; the guarded script runs."""
import os
import subprocess
import sys
import textwrap

from fcis.core import local_workers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

SCRIPT = """
import logging
from easydict import EasyDict
from fcis.core.local_workers import WorkerFailed, run_local_workers

def train(cfg, group):
    return 'trained'

def main():
    cfg = EasyDict({'default': {'LOCAL_UPDATE': 'sum'}})
    try:
        print('result:', run_local_workers(train, cfg, 2, logging.getLogger('t')))
    except WorkerFailed as err:
        print('failed:', err)
"""


def _run(tmp_path, tail):
    """Run the user script from its own folder, the project importable through PYTHONPATH
    (which the spawned workers inherit)."""
    path = tmp_path / 'user_script.py'
    path.write_text(SCRIPT + textwrap.dedent(tail))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path), env=env)
    return done.stdout, done.stderr


def test_an_unguarded_script_gets_one_error_naming_the_fix(tmp_path):
    out, err = _run(tmp_path, 'main()\n')
    assert 'failed: ' + local_workers.UNGUARDED in out
    assert "if __name__ == '__main__':" in local_workers.UNGUARDED
    assert err.count('error: ') == 1 and 'Traceback' not in err


def test_a_guarded_script_trains(tmp_path):
    out, err = _run(tmp_path, "if __name__ == '__main__':\n    main()\n")
    assert 'result: trained' in out, err
