"""Fewer OpenMP threads while other processes keep this process's cores busy.

Every OpenMP parallel region ends at a barrier that waits for all threads of its team.
When another process runs on one of the cores, one of the team's threads is often
descheduled and each of the hundreds of regions of an iteration waits for it: on a 2-core
VM a shapes training iteration took 13x as long beside one busy-loop process with 2
threads, and 1.02x with 1 thread (``benchmark.py train --busy-core``).

``ThreadGovernor.step()``, called after every batch by the training or test loop, measures
every ``window_s`` seconds how many cores other processes used (``/proc/stat`` over this
process's cores, minus this process's own CPU time; the hypervisor's steal time counts as
other processes) and sets the OpenMP threads to the cores left (``threads_for``), between
1 and the thread count it started with. The loop runs each
batch's operators through ``ThreadGovernor.run``: on its own thread at the full thread
count, on an ``OperatorThread`` with fewer. A new thread is needed because MXNet keeps the
oneDNN primitives it builds in per-thread caches, and each primitive keeps the thread
count it was built with (a change of OpenMP threads on the same thread reaches only
primitives built after it). With no other process busy nothing changes, so the results
keep their bits; fewer threads change the rounding of some reductions from that batch on.
"""
import ctypes
import logging
import os
import queue
import threading
import time

from .threads import omp_threads, process_cpu_seconds, usable_cores

logger = logging.getLogger(__name__)

# /proc/stat per-CPU fields counted as busy: user nice system idle iowait irq softirq steal
# (guest time is already part of user time).
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


def threads_for(free_cores, max_threads):
    """OpenMP threads for ``free_cores`` cores left by other processes (a float).

    A core counts when at least 0.6 of it is free: 1.6 free cores -> 2 threads, 1.59 -> 1.
    Always between 1 and ``max_threads``.
    """
    return max(1, min(int(max_threads), int(free_cores + 0.4)))


def busy_cpu_seconds(stat_text, cpus, ticks_per_second):
    """Busy seconds (user, nice, system, irq, softirq, steal) of the CPUs ``cpus`` (ints)
    summed since boot, from the text of /proc/stat."""
    busy = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(' ')
        if not name.startswith('cpu') or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        fields = [int(v) for v in rest.split()]
        busy += sum(fields[i] for i in _BUSY_FIELDS if i < len(fields))
    return busy / float(ticks_per_second)


def read_busy_cpu_seconds():
    """Busy seconds of this process's CPUs (its affinity) since boot; None where /proc/stat
    cannot be read (not Linux)."""
    try:
        with open('/proc/stat') as f:
            text = f.read()
        cpus = os.sched_getaffinity(0)
        ticks = os.sysconf('SC_CLK_TCK')
    except (OSError, AttributeError, ValueError):
        return None
    return busy_cpu_seconds(text, cpus, ticks)


def set_mxnet_omp_threads(count):
    """OpenMP threads of the operators MXNet runs on the calling thread from now on."""
    import mxnet as mx
    mx.base.check_call(mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(int(count))))


class OperatorThread(object):
    """A thread that runs the callables given to ``call`` one at a time, after setting its
    OpenMP threads to ``threads`` with ``set_threads``."""

    def __init__(self, threads, set_threads=set_mxnet_omp_threads):
        self._jobs = queue.Queue()
        self._thread = threading.Thread(target=self._serve, args=(threads, set_threads),
                                        name='operators-%d-threads' % threads, daemon=True)
        self._thread.start()

    def _serve(self, threads, set_threads):
        set_threads(threads)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, outcome, done = job
            try:
                outcome.append((True, fn()))
            except BaseException as err:   # re-raised on the caller's thread
                outcome.append((False, err))
            done.set()

    def call(self, fn):
        """``fn()`` run on this thread; returns its result or raises its exception."""
        outcome, done = [], threading.Event()
        self._jobs.put((fn, outcome, done))
        done.wait()
        ok, value = outcome[0]
        if ok:
            return value
        raise value

    def close(self):
        """Finish the thread (after the callables already given)."""
        self._jobs.put(None)
        self._thread.join()


class ThreadGovernor(object):
    """Keeps the OpenMP threads at the cores other processes leave free.

    max_threads: the most threads (the OMP_NUM_THREADS in effect); cores: cores this
    process may use; window_s: seconds between decisions. read_busy, read_own, clock,
    set_threads: the system's busy CPU seconds, this process's CPU seconds, a monotonic
    clock and the setter (injectable for tests). It starts by setting ``max_threads`` (an
    earlier governor of the thread may have left fewer). ``changes`` lists (seconds since
    the first step, threads) of every change.
    """

    def __init__(self, max_threads, cores=None, window_s=2.0, read_busy=read_busy_cpu_seconds,
                 read_own=process_cpu_seconds, clock=time.monotonic,
                 set_threads=set_mxnet_omp_threads):
        self.max_threads = max(1, int(max_threads))
        self.threads = self.max_threads
        self.cores = cores if cores is not None else usable_cores()
        self.window_s = window_s
        self._read_busy, self._read_own, self._clock = read_busy, read_own, clock
        self._set_threads = set_threads
        set_threads(self.max_threads)
        self._worker = None   # OperatorThread while threads < max_threads
        self.changes = []
        self._start = None
        self._mark = None   # (clock, system busy s, own cpu s) at the window's start

    def _sample(self):
        return self._clock(), self._read_busy(), self._read_own()

    def run(self, fn):
        """``fn()`` (a batch's operators) on the thread whose OpenMP threads are in effect."""
        return fn() if self._worker is None else self._worker.call(fn)

    def _switch(self, threads):
        if self._worker is not None:
            self._worker.close()
        self._worker = None if threads == self.max_threads else OperatorThread(
            threads, self._set_threads)
        self.threads = threads

    def close(self):
        """Back to the caller's thread (at the full thread count)."""
        if self._worker is not None:
            self._switch(self.max_threads)

    def step(self):
        """Call after each batch, on the loop's thread. Returns the threads in effect."""
        if self.max_threads == 1:
            return self.threads
        now = self._sample()
        if now[1] is None:
            return self.threads
        if self._mark is None:
            self._start, self._mark = now[0], now
            return self.threads
        wall = now[0] - self._mark[0]
        if wall < self.window_s:
            return self.threads
        others = max(0.0, (now[1] - self._mark[1]) - (now[2] - self._mark[2])) / wall
        self._mark = now
        wanted = threads_for(self.cores - others, self.max_threads)
        if wanted != self.threads:
            logger.info('OpenMP threads %d -> %d: other processes used %.1f of %d cores over '
                        'the last %.1f s', self.threads, wanted, others, self.cores, wall)
            self._switch(wanted)
            self.changes.append((now[0] - self._start, wanted))
        return self.threads

    def batch_end(self, info):
        """fcis.core.module.fit callback."""
        self.step()


class FixedThreads(object):
    """The governor's interface with nothing changed: operators run on the caller's thread
    at the thread count in effect."""

    def run(self, fn):
        return fn()

    def step(self):
        pass

    def batch_end(self, info):
        pass

    def close(self):
        pass


def governor_for(enabled):
    """A ThreadGovernor for this process, or FixedThreads when ``enabled`` is false or
    MXNET_ENGINE_TYPE is not NaiveEngine (other engines run operators on their own threads,
    whose thread counts the governor cannot set)."""
    if not enabled or os.environ.get('MXNET_ENGINE_TYPE', '') != 'NaiveEngine':
        return FixedThreads()
    return ThreadGovernor(omp_threads())
