"""CpuMeter against the CPU time a spinning workload really takes."""
import re
import time

from lib.utils import threads


def _spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_spinning_reads_near_100_percent_and_sleeping_near_0():
    meter = threads.CpuMeter()
    _spin(0.3)
    busy = meter.percent()
    meter.restart()
    time.sleep(0.3)
    idle = meter.percent()
    # one Python thread spinning uses at most one core; scheduling noise on a shared
    # machine can take a share of it
    assert 50 <= busy <= 110, busy
    assert idle < 20, idle


def test_fake_clocks_give_the_ratio(monkeypatch):
    cpu, wall = [10.0], [100.0]
    monkeypatch.setattr(threads, 'process_cpu_seconds', lambda: cpu[0])
    monkeypatch.setattr(threads.time, 'perf_counter', lambda: wall[0])
    meter = threads.CpuMeter()
    cpu[0], wall[0] = 13.6, 102.0        # 3.6 s of CPU in 2 s of wall: 180%
    assert abs(meter.percent() - 180.0) < 1e-9
    monkeypatch.setattr(threads, 'usable_cores', lambda: 2)
    assert threads.describe_cpu(180.0) == 'CPU 180% of 200%'
    assert re.match(r'CPU \d+% of \d+%$', threads.describe_cpu(meter.percent()))


def _spin_child(seconds):
    _spin(seconds)


def test_a_spinning_child_process_counts():
    import multiprocessing
    child = multiprocessing.get_context('spawn').Process(target=_spin_child, args=(1.5,))
    child.start()
    try:
        time.sleep(0.3)                      # the child is past its start-up
        before = threads.children_cpu_seconds()
        meter = threads.CpuMeter()
        time.sleep(0.8)
        busy = meter.percent()
        after = threads.children_cpu_seconds()
    finally:
        child.join()
    assert after - before > 0.3, (before, after)
    assert 40 <= busy <= 130, busy            # this process sleeps, the child spins one core
