"""Start the training processes of one machine (``default.LOCAL_WORKERS`` = N > 1).

This process becomes worker 0 (it logs to the console and train.log, writes checkpoints,
metrics and loss curves, and tests afterwards); workers 1..N-1 are started with
multiprocessing's spawn method and log to train.worker<r>.log only. Every worker uses
cores / N OpenMP threads (at least 1) during training; this process gets its thread count
back afterwards. The workers sum their gradients before every update
(fcis.core.local_group).

Failures: a worker that raises writes its one-line error to the group's folder, releases
the others from the barrier and exits with status 1; worker 0 then raises
:class:`WorkerFailed` with that line. A worker that dies without a word (killed) is noticed
by a watcher thread here within a second. The workers die with this process (Linux).
"""
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import traceback

from fcis.cli import one_line
from lib.utils.process import die_with_parent, scratch_folder
from lib.utils.thread_governor import set_mxnet_omp_threads
from lib.utils.threads import omp_threads

from .local_group import GroupSpec, GroupStopped, LocalGroup

# exit status of a worker released from the barrier because another one failed
EXIT_STOPPED = 3
# exit status of a worker whose import of the main script started training again
EXIT_UNGUARDED = 4
UNGUARDED = ('default.LOCAL_WORKERS > 1 starts worker processes that import the main script '
             'again, and this script starts training when imported: put the training call '
             "under `if __name__ == '__main__':` (or set default.LOCAL_WORKERS=1)")


class WorkerFailed(RuntimeError):
    """A training worker process failed; the message is its error (one line)."""


def threads_per_worker(num_workers):
    """OpenMP threads of each of ``num_workers`` workers: the cores in effect / N, >= 1."""
    return max(1, omp_threads() // int(num_workers))


def _shared_folder():
    """A new private folder for the exchange file, in memory (/dev/shm) where there is one;
    the folders of killed runs are removed first (lib.utils.process.scratch_folder)."""
    return scratch_folder('fcis-workers-')


def _error_path(spec, rank):
    return os.path.join(spec.folder, 'worker%d.error' % rank)


def _worker_main(train_fn, cfg, spec, rank):
    """Entry of worker ``rank`` >= 1 (a spawned process): ``train_fn(cfg, group)``."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: worker 0 stops the group
    group = LocalGroup(spec, rank)
    try:
        train_fn(cfg, group)
    except GroupStopped:
        os._exit(EXIT_STOPPED)  # pylint: disable=protected-access
    except BaseException as err:  # pylint: disable=broad-except
        logging.getLogger('fcis').error('worker %d failed: %s', rank, traceback.format_exc())
        with open(_error_path(spec, rank), 'w') as f:
            f.write('training worker %d: %s' % (rank, one_line(err)))
        group.abort()
        os._exit(1)  # pylint: disable=protected-access


class _Watcher(object):
    """Aborts the group's barrier as soon as a worker process ends with a non-zero status."""

    def __init__(self, processes, barrier):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(processes, barrier),
                                        name='fcis-worker-watcher', daemon=True)
        self._thread.start()

    def _watch(self, processes, barrier):
        while not self._stop.wait(1.0):
            if any(p.exitcode not in (None, 0) for p in processes):
                barrier.abort()
                return

    def close(self):
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _exit_on_sigterm():
    """Inside the block SIGTERM ends this process through SystemExit (status 143), so the
    workers are stopped and the shared folder removed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _omp_threads(count):
    """OMP_NUM_THREADS (inherited by spawned workers) and this thread's MXNet operators use
    ``count`` threads inside the block."""
    saved = os.environ.get('OMP_NUM_THREADS')
    previous = omp_threads()
    os.environ['OMP_NUM_THREADS'] = str(count)
    set_mxnet_omp_threads(count)
    try:
        yield
    finally:
        if saved is None:
            del os.environ['OMP_NUM_THREADS']
        else:
            os.environ['OMP_NUM_THREADS'] = saved
        set_mxnet_omp_threads(previous)


def _failure(spec, processes, stopped):
    """WorkerFailed for the first worker that wrote an error or ended badly (``stopped``:
    worker 0 was released from the barrier), else None."""
    for rank in range(1, len(processes) + 1):
        path = _error_path(spec, rank)
        if os.path.exists(path):
            with open(path) as f:
                return WorkerFailed(f.read().strip())
    for rank, process in enumerate(processes, start=1):
        if process.exitcode == EXIT_UNGUARDED:
            return WorkerFailed(UNGUARDED)
        if process.exitcode not in (0, EXIT_STOPPED):
            return WorkerFailed('training worker %d ended with exit status %s (see its log, '
                                'train.worker%d.log)' % (rank, process.exitcode, rank))
    return WorkerFailed('a training worker stopped without an error message') if stopped else None


def _train_as_worker0(train_fn, cfg, spec, processes):
    """(worker 0's result, whether another worker stopped it), watching the others."""
    watcher = _Watcher(processes, spec.barrier)
    try:
        return train_fn(cfg, LocalGroup(spec, 0)), False
    except GroupStopped:
        return None, True
    finally:
        watcher.close()


def _stop(spec, processes):
    """Release and end every worker process still running."""
    spec.barrier.abort()
    for process in processes:
        if process.pid is None:  # start() failed
            continue
        if process.is_alive():
            process.terminate()
        process.join()


def _refuse_inside_a_starting_worker():
    """Exit with EXIT_UNGUARDED when called while a spawned worker imports the main script
    (multiprocessing marks the process as inheriting until then): the script trains at
    import, and every worker would start workers of its own."""
    if getattr(multiprocessing.current_process(), '_inheriting', False):
        sys.stderr.write('error: %s\n' % UNGUARDED)
        sys.exit(EXIT_UNGUARDED)


def run_local_workers(train_fn, cfg, num_workers, logger):
    """Run ``train_fn(cfg, group)`` in ``num_workers`` processes (this one is worker 0) and
    return worker 0's result. ``train_fn`` must be a module-level function (spawn pickles
    it by name). Raises WorkerFailed when another worker failed."""
    _refuse_inside_a_starting_worker()
    threads = threads_per_worker(num_workers)
    context = multiprocessing.get_context('spawn')
    spec = GroupSpec(int(num_workers), _shared_folder(), context.Barrier(int(num_workers)),
                     str(cfg.default.LOCAL_UPDATE))
    logger.info('training in %d worker processes of %d OpenMP thread(s) each', num_workers,
                threads)
    processes = []
    try:
        with _exit_on_sigterm(), _omp_threads(threads):
            for rank in range(1, num_workers):
                processes.append(context.Process(target=_worker_main, name='fcis-worker-%d' % rank,
                                                 args=(train_fn, cfg, spec, rank)))
                processes[-1].start()
            result, stopped = _train_as_worker0(train_fn, cfg, spec, processes)
        for process in processes:
            process.join()
        failure = _failure(spec, processes, stopped)
        if failure is not None:
            raise failure
        return result
    except BaseException:
        _stop(spec, processes)
        raise
    finally:
        shutil.rmtree(spec.folder, ignore_errors=True)


__all__ = ['run_local_workers', 'threads_per_worker', 'WorkerFailed', 'EXIT_STOPPED']
