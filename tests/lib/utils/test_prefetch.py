"""lib.utils.prefetch.Prefetcher: results in job order, errors re-raised for their job, work
done ahead on background threads."""
import threading
import time

import pytest

from lib.utils.prefetch import Prefetcher


def test_prefetcher_keeps_order_and_reports_errors():
    def work(job):
        time.sleep(0.002 * (5 - job % 5))              # later jobs often finish first
        if job == 7:
            raise IOError('job 7 failed')
        return job * job
    prefetcher = Prefetcher(work, range(10), num_workers=3, depth=4)
    assert [next(prefetcher) for _ in range(7)] == [j * j for j in range(7)]
    with pytest.raises(IOError, match='job 7'):
        next(prefetcher)
    assert [next(prefetcher), next(prefetcher)] == [64, 81]
    with pytest.raises(StopIteration):
        next(prefetcher)
    prefetcher.close()


def test_prefetcher_runs_ahead_in_the_background():
    started = []
    lock = threading.Lock()

    def work(job):
        with lock:
            started.append(job)
        return job
    prefetcher = Prefetcher(work, iter(range(1000)), num_workers=1, depth=5)
    deadline = time.time() + 5
    while len(started) < 5 and time.time() < deadline:
        time.sleep(0.01)
    assert sorted(started) == [0, 1, 2, 3, 4]          # computed before anyone asked, no further
    assert next(prefetcher) == 0
    prefetcher.close()
    assert len(started) <= 6


def test_dropping_a_prefetcher_does_not_wait_for_its_threads():
    """The finalizer may run in any thread (the garbage collector's choice, even inside the
    threading module's locked start-up of another thread), so it must not join threads:
    it returns while a job still runs, and the worker exits once that job is done."""
    release, running = threading.Event(), threading.Event()

    def work(job):
        running.set()
        release.wait(10)
        return job
    before = set(threading.enumerate())
    prefetcher = Prefetcher(work, range(3), num_workers=1, depth=2)
    assert running.wait(5)
    workers = [t for t in threading.enumerate() if t not in before]
    finalizer = threading.Thread(target=prefetcher.__del__)
    finalizer.start()
    finalizer.join(5)
    returned_while_job_ran = not finalizer.is_alive() and not release.is_set()
    release.set()
    finalizer.join()
    assert returned_while_job_ran
    assert workers
    for worker in workers:
        worker.join(5)
        assert not worker.is_alive()
