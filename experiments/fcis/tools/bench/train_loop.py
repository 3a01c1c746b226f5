"""The timed training loop of ``benchmark.py train`` (experiments/fcis/tools/bench/train.py):
``train_iterations`` runs the config's real ``fcis.core.module.fit`` with every phase,
Python custom op and loader wait timed into a ``Stopwatch`` and a ``BatchClock``, in this
process or, with ``--local-workers``, as worker 0 of the config's training processes
(``train_in_group``).
"""
import collections
import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Optional
from unittest import mock

import mxnet as mx

from experiments.fcis.tools.bench import breakdown, common
from fcis.core import metric as fcis_metric
from fcis.core import module as fcis_module
from fcis.core.local_group import LocalGroup
from fcis.core.local_workers import run_local_workers, threads_per_worker
from fcis.core.run import contexts
from fcis.config.symbol_args import network_args
from fcis.operators import box_annotator_ohem, proposal, proposal_target
from fcis.symbols import TRAIN_OUTPUT_NAMES
from fcis.train_end2end import TrainStart, fit_args_from_config, make_train_loader
from lib.utils.checkpoint import load_params
from lib.utils.thread_governor import governor_for, set_mxnet_omp_threads
from lib.utils.threads import omp_threads, process_and_children_cpu_seconds


CUSTOM_OPS = {
    'proposal': proposal.ProposalOperator,
    'proposal_target': proposal_target.ProposalTargetOperator,
    'ohem': box_annotator_ohem.BoxAnnotatorOHEMOperator,
}


class Stopwatch(object):
    """Thread-safe sums of named durations plus the time stamps of events."""

    def __init__(self):
        self._lock = threading.Lock()
        self.spans = collections.defaultdict(list)  # name -> [(start, end)]

    def add(self, name, start, end):
        with self._lock:
            self.spans[name].append((start, end))

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, start, time.perf_counter())
        return timed

    def total(self, name, begin, end):
        """Seconds of ``name`` spans that started within [begin, end)."""
        return sum(e - s for s, e in self.spans.get(name, []) if begin <= s < end)


class TimedIter(mx.io.DataIter):
    """A TrainLoader whose ``next()`` is timed; ends after ``limit`` batches."""

    def __init__(self, loader, limit, watch):
        super(TimedIter, self).__init__(batch_size=loader.batch_size)
        self.loader, self.limit, self.watch, self.count = loader, limit, watch, 0
        self.num_batches = limit
        self.data_shapes = []  # (N, 3, H, W) of every batch

    def set_epoch(self, epoch):
        self.loader.set_epoch(epoch)
        self.count = 0

    def reset(self):
        self.loader.reset()
        self.count = 0

    def next(self):
        if self.count >= self.limit:
            raise StopIteration
        # Wait for the engine to finish the work pushed before (the previous backward and
        # update) so that 'data' is the loader's own time, not compute.
        start = time.perf_counter()
        mx.nd.waitall()
        self.watch.add('sync', start, time.perf_counter())
        start = time.perf_counter()
        try:
            batch = self.loader.next()
        except StopIteration:  # a short roidb: go on with the next epoch's batches
            self.loader.set_epoch(self.loader._epoch + 1)
            batch = self.loader.next()
        self.watch.add('data', start, time.perf_counter())
        self.count += 1
        self.data_shapes.append(tuple(batch.data[0].shape))
        return batch

    @property
    def provide_data(self):
        return self.loader.provide_data

    @property
    def provide_label(self):
        return self.loader.provide_label

    def max_shapes(self):
        return self.loader.max_shapes()


class BatchClock(object):
    """fit callback recording the time and the CPU seconds of the process and its
    ``--local-workers`` processes at every batch_end (and at the epoch start)."""

    def __init__(self):
        self.stamps, self.cpu = [], []

    def _stamp(self):
        self.stamps.append(time.perf_counter())
        self.cpu.append(process_and_children_cpu_seconds())

    def epoch_begin(self, epoch):
        self._stamp()

    def batch_end(self, info):
        self._stamp()


def train_iterations(cfg, roidb, iterations, watch, clock, seed=0, params=None, group=None):
    """Run ``iterations`` batches of ``fit``, timing into watch/clock, from the weights of the
    .params file ``params`` (a checkpoint of the same config) or random ones; ``group``: the
    LocalGroup of this worker of a ``--local-workers`` run (its shard of every batch, its
    barrier waits timed as 'barrier')."""
    symbol = common.train_symbol(cfg)
    ctx = contexts(cfg)
    shard = (group.rank, group.num_workers) if group else (0, 1)
    loader = make_train_loader(cfg, symbol, ctx, roidb, shard=shard)
    train_iter = TimedIter(loader, iterations, watch)
    shapes = dict(loader.provide_data + loader.provide_label)
    if params:
        arg_params, aux_params = load_params(params)
    else:
        arg_params, aux_params = common.random_params(
            symbol, shapes['data'], network_args(cfg, is_train=True).trunk, seed)
    args = fit_args_from_config(cfg, symbol, train_iter, TrainStart(arg_params, aux_params))
    args = replace(args, epochs=replace(args.epochs, end_epoch=1, seed=seed),
                   kvstore=group or args.kvstore)
    patches = [mock.patch.object(cls, method, watch.wrap((name, method), getattr(cls, method)))
               for name, cls in CUSTOM_OPS.items() for method in ('forward', 'backward')]
    patches.append(mock.patch.object(LocalGroup, 'wait', watch.wrap('barrier', LocalGroup.wait)))
    patches += breakdown.timed_phases(watch)
    for patch in patches:
        patch.start()
    governor = governor_for(cfg.default.ADAPT_THREADS)
    try:
        fcis_module.fit(symbol, train_iter, ctx, arg_params, aux_params, args=args,
                        eval_metric=fcis_metric.get_metrics(TRAIN_OUTPUT_NAMES),
                        callbacks=[governor, clock], run_ops=governor.run)
        mx.nd.waitall()
    finally:
        for patch in patches:
            patch.stop()
        loader.close()
        governor.close()
    return train_iter.data_shapes


@dataclass(frozen=True)
class GroupJob:
    """The iterations every worker of a ``--local-workers`` run trains (picklable)."""
    roidb: Any
    iterations: int
    seed: int
    params: Optional[str]


def group_worker(job, cfg, group):
    """Worker ``group.rank``'s iterations of a ``--local-workers`` run; worker 0 (this
    process) returns (Stopwatch, BatchClock, batch shapes), the others None."""
    common.load_ops()
    watch, clock = Stopwatch(), BatchClock()
    shapes = train_iterations(cfg, job.roidb, job.iterations, watch, clock, job.seed,
                              job.params, group)
    return (watch, clock, shapes) if group.rank == 0 else None


def train_in_group(cfg, roidb, iterations, seed, params):
    """(Stopwatch, BatchClock, batch shapes) of worker 0 of default.LOCAL_WORKERS processes
    training ``iterations`` batches as the config's training command does.

    Worker 0 runs on a new thread: MXNet caches the oneDNN primitives of each thread with
    the OpenMP thread count they were built with, so primitives of an earlier run on this
    thread would keep all cores' threads beside the other workers."""
    job = GroupJob(roidb, iterations, seed, params)
    return on_new_thread(functools.partial(
        run_local_workers, functools.partial(group_worker, job), cfg,
        int(cfg.default.LOCAL_WORKERS), logging.getLogger(__name__)))


def on_new_thread(fn):
    """fn() run on a new thread; returns its result or raises its exception."""
    outcome = {}

    def target():
        try:
            outcome['result'] = fn()
        except BaseException as err:  # pylint: disable=broad-except
            outcome['error'] = err

    thread = threading.Thread(target=target, name='bench-worker-0')
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return outcome['result']


@contextlib.contextmanager
def worker_threads(workers):
    """Inside the block MXNet operators of this thread use the OpenMP threads of one of
    ``workers`` training processes (fcis.core.local_workers.threads_per_worker)."""
    if workers <= 1:
        yield
        return
    previous = omp_threads()
    set_mxnet_omp_threads(threads_per_worker(workers))
    try:
        yield
    finally:
        set_mxnet_omp_threads(previous)
