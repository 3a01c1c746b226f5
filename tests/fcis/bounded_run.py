"""Subprocess helper of the distributed-training tests (a plain module, not a conftest)."""
import os
import signal
import subprocess
import time

import pytest


def run_bounded(command, timeout, **kwargs):
    """(status, output, seconds) of ``command`` in its own process group, killed if too slow."""
    start = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, **kwargs)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail('%s did not finish in %d s:\n%s' % (command[:3], timeout, out.decode()[-3000:]))
    return proc.returncode, out.decode('utf-8', 'replace'), time.time() - start
