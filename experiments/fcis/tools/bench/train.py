"""``benchmark.py train``: training iterations of the real loop (fcis.core.module.fit with the
config's TrainLoader, optimizer, metrics and fixed parameters) on random weights (BatchNorm
statistics and the last head layers calibrated: experiments/fcis/tools/bench/common.py
random_params).

Data: a synthetic COCO-like set for 'coco' (experiments/fcis/tools/bench/data.py), the generated
shapes set for 'shapes'. ``--warmup`` iterations are dropped, the next ``--runs`` measured:

  iteration   time between consecutive ``batch_end`` callbacks (median and mean)
  custom ops  time inside the Python CustomOps' forward/backward (proposal, proposal
              target, OHEM), summed over the measured iterations (with MXNet's threaded
              engine they run on its custom-op thread and may overlap other work: then an
              upper bound of their share)
  data wait   time the training thread waits in the loader's ``next()`` for a prepared
              batch (NumPy arrays, which ``Module.forward`` copies into the executors'
              inputs), after waiting for the engine to finish the previous iteration
  bind        time binding a Module for a batch shape not seen before (GT count, image
              size; fcis.core.shape_cache): with few warm-up iterations, first binds show here
  CPU         CPU time of the process over the measured window (200% = two cores busy)

Shares are of the measured window (mean iteration x runs). Each run is then broken down
(experiments/fcis/tools/bench/breakdown.py): convolutions with their FLOPs and fraction of the
machine's conv peak, other operators, each custom op, metrics, optimizer, data, Python;
then the ``--conv-layers`` convolutions that take the most time, each pass's rate, and the
``--ops`` other MXNet operators that take the most time (a second run of the iterations
under MXNet's profiler: experiments/fcis/tools/bench/op_profile.py; not for --env or
--busy-core rows).
``--busy-core`` repeats each run with a busy-loop process beside it; ``--env`` repeats it
in a child process with other environment variables (e.g. the engine).
"""
import argparse
import collections
import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Optional
from unittest import mock

import mxnet as mx

from experiments.fcis.tools.bench import breakdown, common, op_profile
from experiments.fcis.tools.bench.data import BenchData
from fcis.core import metric as fcis_metric
from fcis.core import module as fcis_module
from fcis.core.local_group import LocalGroup
from fcis.core.local_workers import run_local_workers, threads_per_worker
from fcis.core.params import fixed_param_names
from fcis.core.run import contexts
from fcis.config.symbol_args import network_args
from fcis.operators import box_annotator_ohem, proposal, proposal_target
from fcis.symbols import TRAIN_OUTPUT_NAMES
from fcis.train_end2end import TrainStart, fit_args_from_config, make_train_loader
from lib.utils.checkpoint import CheckpointError, load_params
from lib.utils.table import format_table
from lib.utils.thread_governor import governor_for, set_mxnet_omp_threads
from lib.utils.threads import omp_threads, process_and_children_cpu_seconds, usable_cores

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


def summarize(watch, clock, warmup, batch_images):
    """Figures of the iterations after the first ``warmup`` ones."""
    stamps = clock.stamps
    intervals = [b - a for a, b in zip(stamps[:-1], stamps[1:])][warmup:]
    begin, end = stamps[warmup], stamps[-1]
    window = end - begin
    custom = {name: sum(watch.total((name, m), begin, end) for m in ('forward', 'backward'))
              for name in CUSTOM_OPS}
    custom_s = sum(custom.values())
    data_s = watch.total('data', begin, end)
    sorted_intervals = sorted(intervals)
    median = sorted_intervals[len(intervals) // 2] if len(intervals) % 2 else \
        0.5 * sum(sorted_intervals[len(intervals) // 2 - 1:len(intervals) // 2 + 1])
    return {
        'iterations': len(intervals), 'iteration_median_s': median,
        'iteration_mean_s': window / len(intervals), 'images_per_s': batch_images * len(
            intervals) / window,
        'custom_ops_s': custom, 'custom_share': custom_s / window,
        'custom_forward_s': {name: watch.total((name, 'forward'), begin, end)
                             for name in CUSTOM_OPS},
        'phases_s': {name: watch.total(name, begin, end) for name, _, _ in breakdown.PHASES},
        'data_wait_share': data_s / window, 'bind_share': watch.total('bind', begin, end)
        / window, 'custom_and_data_share': (custom_s + data_s) / window,
        'barrier_share': watch.total('barrier', begin, end) / window,
        'cpu_percent': 100.0 * (clock.cpu[-1] - clock.cpu[warmup]) / window,
        'usable_cores': usable_cores(), 'engine': os.environ.get('MXNET_ENGINE_TYPE', ''),
    }


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


@contextlib.contextmanager
def busy_loop():
    """A child process spinning on one core while the block runs."""
    proc = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def run(config, runs, warmup, seed=0, num_images=12, overrides=(), busy=False, params=None,
        workers=1):
    """Training figures of ``config`` ('coco' or 'shapes') with config ``overrides``
    (KEY=VALUE strings) as a dict; ``busy``: with a busy-loop process beside it; ``params``:
    a .params file to start from instead of random weights; ``workers``: training processes
    (default.LOCAL_WORKERS, each on its own images: the figures are worker 0's, the images
    per second and CPU all workers')."""
    cfg = common.load_bench_config(config, ['default.LOCAL_WORKERS=%d' % workers] +
                                   list(overrides))
    with BenchData(cfg, config, num_images, seed) as roidb:
        with busy_loop() if busy else contextlib.nullcontext():
            if workers > 1:
                watch, clock, shapes = train_in_group(cfg, roidb, warmup + runs, seed, params)
            else:
                watch, clock = Stopwatch(), BatchClock()
                shapes = train_iterations(cfg, roidb, warmup + runs, watch, clock, seed, params)
    result = summarize(watch, clock, warmup, batch_images=len(contexts(cfg)) * workers)
    symbol = common.train_symbol(cfg)
    fixed = fixed_param_names(symbol.list_arguments(), cfg.network.FIXED_PARAMS,
                              cfg.network.FIXED_PARAMS_MATCH_SUFFIX)
    with worker_threads(workers):
        result['convs'] = breakdown.conv_summary(
            symbol, breakdown.most_common_shape(shapes[warmup:]), set(fixed))
    result.update({'config': config, 'ohem': bool(cfg.TRAIN.ENABLE_OHEM), 'runs': runs,
                   'warmup': warmup, 'overrides': list(overrides), 'busy': busy,
                   'params': params, 'workers': workers})
    return result


def operator_profile(config, runs, warmup, seed=0, overrides=(), params=None):
    """Calls and ms per iteration of each MXNet operator besides convolutions and custom ops
    (op_profile.per_iteration) over ``runs`` training iterations after ``warmup``, run with
    MXNet's profiler on: {'operators': {name: (calls, ms)}, 'iteration_s': mean profiled
    iteration}."""
    cfg = common.load_bench_config(config, overrides)
    factor = op_profile.recording_factor()
    window = op_profile.ProfileWindow(warmup)
    with BenchData(cfg, config, seed=seed) as roidb:
        try:
            train_iterations(cfg, roidb, warmup + runs, Stopwatch(), window, seed, params)
        finally:
            stats = window.stop()
    operators = op_profile.per_iteration(op_profile.operator_stats(stats, factor),
                                         window.batches)
    return {'operators': operators, 'iteration_s': window.seconds / window.batches}


def run_with_env(config, args, env_text):
    """The results of ``config`` measured by a child ``benchmark.py train`` with the
    environment variables of ``env_text`` ('KEY=VALUE ...') added."""
    env = dict(os.environ, **dict(item.split('=', 1) for item in env_text.split()))
    cmd = [sys.executable, os.path.join(common.ROOT, 'experiments', 'fcis', 'benchmark.py'),
           'train', '--config', config, '--runs', str(args.runs), '--warmup', str(args.warmup),
           '--shapes-factor', str(args.shapes_factor), '--seed', str(args.seed),
           '--conv-layers', '0', '--ops', '0'] + (['--params', args.params] if args.params else [])
    proc = subprocess.run(cmd, cwd=common.ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise RuntimeError('benchmark with %s failed: %s' % (env_text, ' '.join(tail)))
    results = json.loads(proc.stdout.strip().splitlines()[-1])['train']
    for r in results:
        r['env'] = env_text
    return results


def table(results):
    rows = []
    for r in results:
        custom = ', '.join('%s %s' % (k, common.ms(v / r['iterations']))
                           for k, v in r['custom_ops_s'].items() if v)
        rows.append([row_label(r),
                     common.ms(r['iteration_median_s']), common.ms(r['iteration_mean_s']),
                     '%.2f' % r['images_per_s'], '%.1f%%' % (100 * r['custom_share']),
                     '%.1f%%' % (100 * r['data_wait_share']),
                     '%.1f%%' % (100 * r['custom_and_data_share']),
                     '%.1f%%' % (100 * r['bind_share']), '%.0f%%' % r['cpu_percent'], custom])
    return format_table(['training', 'median ms', 'mean ms', 'img/s', 'custom ops',
                         'data wait', 'both', 'bind', 'CPU', 'custom ops ms/iter'], rows)


def row_label(r):
    label = r['config'] + (' (OHEM)' if r['ohem'] else '')
    extras = ['%d workers' % r['workers']] if r.get('workers', 1) > 1 else []
    extras += list(r.get('overrides') or []) + ([r['env']] if r.get('env') else [])
    extras += ['from ' + os.path.basename(r['params'])] if r.get('params') else []
    return ' '.join([label] + extras + (['+ busy loop'] if r.get('busy') else []))


def main(argv):
    parser = argparse.ArgumentParser(prog='benchmark.py train', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', choices=sorted(common.CONFIGS), action='append',
                        help='config(s) to run (default: coco and shapes)')
    parser.add_argument('--runs', type=int, default=5, help='measured iterations (COCO)')
    parser.add_argument('--warmup', type=int, default=2, help='dropped iterations (COCO)')
    parser.add_argument('--shapes-factor', type=int, default=4,
                        help='shapes runs/warm-up are this many times the COCO ones')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--variant', action='append', default=[], metavar="'KEY=VALUE ...'",
                        help="also run each config with these config overrides (one more "
                             "row per --variant), e.g. --variant 'SCALES=[[320,448]]'")
    parser.add_argument('--env', action='append', default=[], metavar="'NAME=VALUE ...'",
                        help='also run each config in a child process with these environment '
                             'variables, e.g. --env MXNET_ENGINE_TYPE=ThreadedEnginePerDevice')
    parser.add_argument('--params', metavar='FILE',
                        help='start from this .params file (a checkpoint of the config, e.g. '
                             'output/.../train/e2e-0003.params) instead of random weights: '
                             'a trained network proposes objects, so the custom ops do the '
                             "work of a real run's later epochs")
    parser.add_argument('--busy-core', action='store_true',
                        help='also run each config with a busy-loop process beside it')
    parser.add_argument('--local-workers', type=int, default=1, metavar='N',
                        help='also run each config and --variant in N training processes '
                             '(default.LOCAL_WORKERS, as the shapes config trains), each on its '
                             'own images of every batch; images/s and CPU count all of them')
    parser.add_argument('--conv-layers', type=int, default=10, metavar='N',
                        help='list the N convolutions that take the most time (0: none)')
    parser.add_argument('--ops', type=int, default=10, metavar='N',
                        help='list the N other MXNet operators that take the most time, from '
                             "a second run of at most 20 (COCO: 5) iterations under MXNet's "
                             'profiler (0: no such run)')
    args = parser.parse_args(argv)
    if args.local_workers < 1:
        parser.error('--local-workers: %d; give 1 or more training processes' % args.local_workers)
    if args.params:
        try:
            load_params(args.params)
        except CheckpointError as err:
            parser.error('--params: %s' % err)
    common.load_ops()
    peak = common.measure_conv_peak(10)
    results = []
    for config in args.config or ['coco', 'shapes']:
        factor = args.shapes_factor if config == 'shapes' else 1
        counts = (args.runs * factor, args.warmup * factor, args.seed)
        for overrides in [[]] + [v.split() for v in args.variant]:
            results.append(run(config, *counts, overrides=overrides, params=args.params))
            if args.ops > 0:
                results[-1]['op_profile'] = operator_profile(
                    config, min(counts[0], 5 * factor), counts[1], args.seed, overrides,
                    args.params)
            if args.local_workers > 1:
                results.append(run(config, *counts, overrides=overrides, params=args.params,
                                   workers=args.local_workers))
        if args.busy_core:
            results.append(run(config, *counts, busy=True, params=args.params))
        for env_text in args.env:
            results += run_with_env(config, args, env_text)
    print('OMP_NUM_THREADS=%s  engine %s  conv peak %.0f GFLOP/s (3x3 conv %s)' % (
        os.environ.get('OMP_NUM_THREADS'), os.environ.get('MXNET_ENGINE_TYPE') or 'default',
        peak['gflop_per_s'], 'x'.join(map(str, peak['shape']))))
    print(table(results))
    for r in results:
        print('\n%s: where the mean iteration goes' % row_label(r))
        print(breakdown.table(r, peak['gflop_per_s']))
        if args.conv_layers > 0:
            print('\n' + breakdown.layer_table(r['convs'], peak['gflop_per_s'],
                                               args.conv_layers))
        if args.ops > 0 and r.get('op_profile'):
            print('\n' + op_profile.op_table(r['op_profile']['operators'],
                                              r['op_profile']['iteration_s'], args.ops))
    print(ratios(results))
    print(json.dumps({'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
                      'peak': peak, 'train': results}, sort_keys=True))
    return 0


def ratios(results):
    """Time per image of every row against the first row of its config (with one image an
    iteration, the mean-iteration ratio)."""
    lines, first = [], {}
    for r in results:
        base = first.setdefault(r['config'], r)
        if r is not base:
            lines.append('%s / %s: %.2fx the time per image' % (
                row_label(r), row_label(base), base['images_per_s'] / r['images_per_s']))
    return '\n'.join(lines)
