"""Thread defaults and CPU use. MXNet (and OpenMP) read OMP_NUM_THREADS when first loaded
and otherwise use only half of the cores, so the project sets it before MXNet is imported."""
import multiprocessing
import os
import time


def usable_cores():
    """Number of cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_default_threads():
    """Set OMP_NUM_THREADS to the number of usable cores unless the user set it.

    Returns the value in effect. Has no effect on an MXNet that is already loaded, so the
    project imports ``lib`` before ``mxnet`` at every entry point.
    """
    if not os.environ.get('OMP_NUM_THREADS'):
        os.environ['OMP_NUM_THREADS'] = str(usable_cores())
    return int(os.environ['OMP_NUM_THREADS'])


def omp_threads():
    """The OpenMP threads in effect: OMP_NUM_THREADS, else the usable cores."""
    return int(os.environ.get('OMP_NUM_THREADS') or usable_cores())


def process_cpu_seconds():
    """CPU seconds (user + system) of this process's threads so far."""
    times = os.times()
    return times.user + times.system


def children_cpu_seconds():
    """CPU seconds (user + system) so far of this process's live multiprocessing children
    (the workers of default.LOCAL_WORKERS), read from /proc/<pid>/stat; 0 where there is no
    /proc (not Linux) or no child."""
    ticks = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100
    total = 0.0
    for child in multiprocessing.active_children():
        try:
            with open('/proc/%d/stat' % child.pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks   # utime, stime (fields 14, 15)
    return total


def process_and_children_cpu_seconds():
    """process_cpu_seconds() + children_cpu_seconds(): a training run's CPU seconds with
    its LOCAL_WORKERS processes."""
    return process_cpu_seconds() + children_cpu_seconds()


class CpuMeter(object):
    """CPU time of this process (all its threads, user + system) and of its live
    multiprocessing children over wall time since ``restart()``, in percent: 200 means two
    cores busy all along."""

    def __init__(self):
        self.restart()

    def restart(self):
        self._cpu, self._wall = process_and_children_cpu_seconds(), time.perf_counter()

    def percent(self):
        wall = time.perf_counter() - self._wall
        return 100.0 * (process_and_children_cpu_seconds() - self._cpu) / wall if wall > 0 else 0.0



def describe_cpu(percent):
    """'CPU 187% of 200%' (the second figure: usable cores x 100)."""
    return 'CPU %.0f%% of %d%%' % (percent, 100 * usable_cores())
