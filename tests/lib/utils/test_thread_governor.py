"""ThreadGovernor: the decision from /proc/stat figures, the thread the operators run on, and
the OpenMP threads in effect there (lib/utils/thread_governor.py)."""
import ctypes
import ctypes.util
import threading

import lib  # noqa: F401  (MXNet environment defaults before mxnet is imported)
import mxnet as mx
import numpy as np
import pytest

from lib.utils import thread_governor as tg

STAT = """cpu  900 0 90 9000 10 0 9 0 0 0
cpu0 100 5 20 3000 7 1 2 3 40 0
cpu1 200 0 30 3000 1 0 3 0 0 0
cpu2 400 7 40 3000 2 2 4 5 0 0
intr 12345 0 0
ctxt 999
"""


@pytest.mark.parametrize('free, max_threads, expected', [
    (2.0, 2, 2), (1.6, 2, 2), (1.59, 2, 1), (1.0, 2, 1), (0.1, 2, 1), (-0.5, 2, 1),
    (3.7, 4, 4), (2.6, 4, 3), (5.0, 2, 2)])
def test_threads_for_counts_cores_with_at_least_0_6_free(free, max_threads, expected):
    assert tg.threads_for(free, max_threads) == expected


def test_busy_seconds_sum_the_busy_fields_of_the_given_cpus():
    # cpu0: user 100 + nice 5 + system 20 + irq 1 + softirq 2 + steal 3 = 131 (idle 3000,
    # iowait 7 and guest 40 not counted); cpu2: 400 + 7 + 40 + 2 + 4 + 5 = 458.
    assert tg.busy_cpu_seconds(STAT, {0, 2}, 100) == pytest.approx((131 + 458) / 100.0)
    assert tg.busy_cpu_seconds(STAT, {1}, 10) == pytest.approx((200 + 30 + 3) / 10.0)


class FakeMachine(object):
    """Clock, system busy seconds and own CPU seconds advanced by hand."""

    def __init__(self):
        self.now = self.busy = self.own = 0.0
        self.set_calls = []   # (threads, thread ident)

    def advance(self, seconds, own_cores, other_cores):
        self.now += seconds
        self.own += own_cores * seconds
        self.busy += (own_cores + other_cores) * seconds

    def set_threads(self, count):
        self.set_calls.append((count, threading.get_ident()))

    def governor(self):
        return tg.ThreadGovernor(2, cores=2, window_s=2.0, read_busy=lambda: self.busy,
                                 read_own=lambda: self.own, clock=lambda: self.now,
                                 set_threads=self.set_threads)


def test_alone_nothing_changes_and_operators_stay_on_the_callers_thread():
    machine = FakeMachine()
    governor = machine.governor()
    here = threading.get_ident()
    for _ in range(20):
        machine.advance(0.5, own_cores=1.9, other_cores=0.05)
        assert governor.step() == 2
        assert governor.run(threading.get_ident) == here
    assert governor.changes == []
    assert machine.set_calls == [(2, here)]   # the start value, set once


def test_a_busy_core_moves_operators_to_a_one_thread_worker_and_back():
    machine = FakeMachine()
    governor = machine.governor()
    here = threading.get_ident()
    governor.step()                                  # starts the first window
    machine.advance(1.0, own_cores=1.0, other_cores=1.0)
    assert governor.step() == 2                      # window not over yet (1 s of 2)
    machine.advance(1.5, own_cores=1.0, other_cores=1.0)
    assert governor.step() == 1                      # 1 free core of 2
    worker = governor.run(threading.get_ident)
    assert worker != here
    assert machine.set_calls[-1] == (1, worker)      # set on the worker, before its first job
    with pytest.raises(ZeroDivisionError):           # errors reach the caller
        governor.run(lambda: 1 / 0)
    assert governor.run(lambda: 7) == 7              # and the worker still serves
    machine.advance(2.0, own_cores=1.0, other_cores=0.1)
    assert governor.step() == 2                      # 1.9 free cores
    assert governor.run(threading.get_ident) == here
    assert governor.changes == [(2.5, 1), (4.5, 2)]


def test_a_governor_of_one_thread_never_reads_the_machine():
    def fail():
        raise AssertionError('read')
    governor = tg.ThreadGovernor(1, cores=2, read_busy=fail, read_own=fail,
                                 set_threads=lambda n: None)
    assert governor.step() == 1


def test_no_proc_stat_means_no_change():
    machine = FakeMachine()
    governor = tg.ThreadGovernor(2, cores=2, read_busy=lambda: None, clock=lambda: machine.now,
                                 set_threads=machine.set_threads)
    for _ in range(5):
        machine.advance(3.0, 1.0, 1.0)
        assert governor.step() == 2


def test_governor_only_for_the_naive_engine(monkeypatch):
    monkeypatch.setenv('MXNET_ENGINE_TYPE', 'NaiveEngine')
    assert isinstance(tg.governor_for(False), tg.FixedThreads)
    assert isinstance(tg.governor_for(True), tg.ThreadGovernor)
    monkeypatch.setenv('MXNET_ENGINE_TYPE', 'ThreadedEnginePerDevice')
    assert isinstance(tg.governor_for(True), tg.FixedThreads)


def test_fixed_threads_run_on_the_callers_thread():
    fixed = tg.FixedThreads()
    assert fixed.run(threading.get_ident) == threading.get_ident()
    assert fixed.step() is None


def _omp_max_threads():
    return ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1').omp_get_max_threads()


def test_the_worker_runs_mxnet_with_its_threads_and_the_same_results():
    """On a real OperatorThread the OpenMP setting is in effect for that thread only, and a
    convolution computed there equals the one computed here."""
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.randn(1, 8, 20, 20))
    w = mx.nd.array(rng.randn(8, 8, 3, 3))

    def conv():
        return (mx.nd.Convolution(x, w, kernel=(3, 3), pad=(1, 1), num_filter=8,
                                  no_bias=True).asnumpy(), _omp_max_threads())

    here, here_threads = conv()
    worker = tg.OperatorThread(1)
    try:
        there, there_threads = worker.call(conv)
    finally:
        worker.close()
    assert there_threads == 1
    assert _omp_max_threads() == here_threads
    np.testing.assert_allclose(there, here, rtol=1e-5, atol=1e-5)
