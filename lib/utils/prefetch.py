"""Ordered background prefetching on worker threads.

``Prefetcher(fn, jobs)`` iterates over ``fn(job)`` for each job of the (possibly endless)
iterable ``jobs``, in job order, while up to ``depth`` later jobs are already being
computed by ``num_workers`` threads. Image decoding, resizing (OpenCV) and most NumPy
work release the GIL, so threads overlap that work with the network's computation.
An exception raised by ``fn`` is re-raised by ``next()`` for the job that raised it.
"""
import collections
import concurrent.futures
import itertools


class Prefetcher(object):
    """Iterator over fn(job) for job in jobs, computed ahead by background threads.

    Args:
        fn: function of one job, returns its result; must not depend on call order.
        jobs: iterable of jobs (may be infinite).
        num_workers: worker threads (>= 1).
        depth: results computed ahead of the consumer (>= 1).
    """

    def __init__(self, fn, jobs, num_workers=2, depth=4):
        if num_workers < 1 or depth < 1:
            raise ValueError('Prefetcher needs num_workers >= 1 and depth >= 1, got %d, %d'
                             % (num_workers, depth))
        self._fn = fn
        self._jobs = iter(jobs)
        self._depth = depth
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=num_workers,
                                                               thread_name_prefix='prefetch')
        self._futures = collections.deque()
        self._fill()

    def _fill(self):
        missing = self._depth - len(self._futures)
        for job in itertools.islice(self._jobs, max(missing, 0)):
            self._futures.append(self._executor.submit(self._fn, job))

    def __iter__(self):
        return self

    def __next__(self):
        if self._executor is None:
            raise StopIteration
        if not self._futures:
            self._fill()
            if not self._futures:
                raise StopIteration
        future = self._futures.popleft()
        self._fill()
        return future.result()

    next = __next__

    def close(self, wait=True):
        """Cancel the jobs not started and stop the threads; with ``wait``, first wait for
        the running jobs to finish."""
        if self._executor is None:
            return
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        self._executor.shutdown(wait=wait)
        self._executor = None

    def __del__(self):
        # The garbage collector may run this in any thread, even inside the threading
        # module's own locked sections (a thread starting up): joining threads here can
        # deadlock. The workers finish their running job and exit without a join.
        try:
            self.close(wait=False)
        except Exception:  # interpreter shutdown
            pass
