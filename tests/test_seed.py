"""The seed of the random tests (tests/conftest.py): FCIS_TEST_SEED reaches the fixtures
``test_seed`` and ``rng``, the run's header shows it, and a failing test that draws from it
prints the command that replays it. Each case runs pytest on a probe test in a subprocess."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
PROBE = """
def test_draw(rng, test_seed):
    print('DRAW %d %d' % (test_seed, rng.randint(0, 10 ** 9)))
    assert False
"""


def run_probe(tmp_path, seed):
    """(exit status, stdout, stderr) of pytest on the failing probe with FCIS_TEST_SEED=seed
    (None: unset)."""
    probe = tmp_path / 'test_probe.py'
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != 'FCIS_TEST_SEED'}
    if seed is not None:
        env['FCIS_TEST_SEED'] = seed
    env['PYTHONPATH'] = os.pathsep.join([ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    command = [sys.executable, '-m', 'pytest', '-p', 'tests.conftest', '-p', 'no:cacheprovider',
               '-s', str(probe)]
    done = subprocess.run(command, cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_the_seed_reaches_the_fixtures_header_and_failure_report(tmp_path):
    status, out, _ = run_probe(tmp_path, '5')
    assert status == 1, out
    assert 'random tests: FCIS_TEST_SEED=5 ' in out
    assert 'DRAW 5 %d' % np.random.RandomState(5).randint(0, 10 ** 9) in out
    assert "replay: FCIS_TEST_SEED=5 python3 -m pytest 'test_probe.py::test_draw'" in out


def test_the_default_seed_is_0(tmp_path):
    status, out, _ = run_probe(tmp_path, None)
    assert status == 1 and 'random tests: FCIS_TEST_SEED=0 ' in out
    assert 'DRAW 0 %d' % np.random.RandomState(0).randint(0, 10 ** 9) in out


def test_a_bad_seed_is_one_error_line(tmp_path):
    status, out, err = run_probe(tmp_path, 'seven')
    assert status != 0 and 'DRAW' not in out
    lines = [line for line in (out + err).splitlines() if 'FCIS_TEST_SEED must be' in line]
    assert len(lines) == 1 and "got 'seven'" in lines[0], out + err
