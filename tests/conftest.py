"""Test-session setup, run before any test module imports MXNet.

The tests run MXNet with one OpenMP thread unless OMP_NUM_THREADS is set: the suite's
models are tiny, and several tests compare a run in this process with runs in subprocesses
(distributed workers, resumed training), which are bit-identical only with the same thread
count (a different count changes the rounding of multithreaded reductions, and discrete
steps such as NMS and ROI sampling can then diverge).

Random tests draw from ``FCIS_TEST_SEED`` (default 0): the fixture ``test_seed`` gives it,
``rng`` is a NumPy RandomState seeded with it, and a test with several streams seeds each
with ``test_seed + k``. The header of every run shows the seed, and a failing test that uses
it prints the command that replays it: ``FCIS_TEST_SEED=<n> python3 -m pytest <test id>``.
"""
import os

os.environ.setdefault('OMP_NUM_THREADS', '1')

# Test modules import mxnet at their top: lib prepares numpy for it first.
import lib  # noqa: E402,F401
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SEED_ENV = 'FCIS_TEST_SEED'
DEFAULT_SEED = 0
MAX_SEED = 2 ** 31   # RandomState takes seeds below 2**32; tests add small offsets


def read_seed():
    """The base seed of the random tests: FCIS_TEST_SEED, else DEFAULT_SEED."""
    text = os.environ.get(SEED_ENV, '').strip()
    if not text:
        return DEFAULT_SEED
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < MAX_SEED:
        raise pytest.UsageError('%s must be an integer in [0, 2**31), got %r (e.g. %s=7)'
                                % (SEED_ENV, text, SEED_ENV))
    return seed


def pytest_configure(config):
    config.fcis_test_seed = read_seed()


def pytest_report_header(config):
    return 'random tests: %s=%d (replay a failure with %s=%d python3 -m pytest <test id>)' % (
        SEED_ENV, config.fcis_test_seed, SEED_ENV, config.fcis_test_seed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that draws from the seed gets a section with its replay command."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and 'test_seed' in getattr(item, 'fixturenames', ()):
        seed = item.config.fcis_test_seed
        report.sections.append(('random seed', "%s=%d; replay: %s=%d python3 -m pytest '%s'"
                                % (SEED_ENV, seed, SEED_ENV, seed, item.nodeid)))


@pytest.fixture(scope='session')
def test_seed(request):
    """The base seed of this run (FCIS_TEST_SEED, default 0)."""
    return request.config.fcis_test_seed


@pytest.fixture
def rng(test_seed):
    """A NumPy RandomState seeded with ``test_seed``, fresh for each test."""
    return np.random.RandomState(test_seed)
