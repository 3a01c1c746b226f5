"""init.sh stops at once, with one line naming the supported versions, on another Python."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_init(python):
    env = dict(os.environ, PYTHON=python)
    return subprocess.run(['sh', os.path.join(ROOT, 'init.sh')], capture_output=True,
                          text=True, env=env, timeout=60)


def fake_python(tmp_path, version):
    """An executable that answers init.sh's version query with ``version``."""
    path = tmp_path / 'python'
    path.write_text('#!/bin/sh\necho %s\n' % version)
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize('version', ['3.8', '3.10', '3.14'])
def test_unsupported_python_stops_with_one_line(tmp_path, version):
    result = run_init(fake_python(tmp_path, version))
    assert result.returncode == 1 and result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert 'Python %s' % version in lines[0] and '3.11, 3.12, 3.13' in lines[0]


def test_python_that_does_not_run_stops_with_one_line(tmp_path):
    result = run_init(str(tmp_path / 'no-such-python'))
    assert result.returncode == 1 and result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and 'cannot run' in lines[0] and '3.11, 3.12, 3.13' in lines[0]
