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
