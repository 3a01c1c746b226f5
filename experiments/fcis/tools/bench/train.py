"""``benchmark.py train``: training iterations of the real loop (fcis.core.module.fit with the
config's TrainLoader, optimizer, metrics and fixed parameters) on random weights (BatchNorm
statistics and the last head layers calibrated: experiments/fcis/tools/bench/common.py
random_params).

Data: a synthetic COCO-like set for 'coco' (experiments/fcis/tools/bench/data.py), the generated
shapes set for 'shapes'. ``--warmup`` iterations are dropped, the next ``--runs`` measured:

  iteration   time between consecutive ``batch_end`` callbacks (median and mean)
  custom ops  time inside the Python CustomOps' forward/backward (proposal, proposal
              target, OHEM), summed over the measured iterations (they run on MXNet's
              custom-op thread and may overlap other work: an upper bound of their share)
  data wait   time the training thread waits in the loader's ``next()`` (includes the
              NumPy -> NDArray copy of the batch), after waiting for the engine to finish
              the previous iteration (which that copy would wait for anyway)
  bind        time binding a Module for a batch shape not seen before (GT count, image
              size; fcis.core.shape_cache): with few warm-up iterations, first binds show here

Shares are of the measured window (mean iteration x runs).
"""
import argparse
import collections
import json
import os
import threading
import time
from dataclasses import replace
from unittest import mock

import mxnet as mx

from experiments.fcis.tools.bench import common
from experiments.fcis.tools.bench.data import BenchData
from fcis.core import metric as fcis_metric
from fcis.core import module as fcis_module
from fcis.core import shape_cache
from fcis.config.symbol_args import network_args
from fcis.operators import box_annotator_ohem, proposal, proposal_target
from fcis.symbols import TRAIN_OUTPUT_NAMES
from fcis.train_end2end import TrainStart, fit_args_from_config, make_train_loader
from lib.utils.table import format_table

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

    def set_epoch(self, epoch):
        self.loader.set_epoch(epoch)
        self.count = 0

    def reset(self):
        self.loader.reset()
        self.count = 0

    def next(self):
        if self.count >= self.limit:
            raise StopIteration
        # The loader turns the batch into NDArrays, whose synchronous copy waits for the
        # engine to finish the work pushed before (the previous backward and update): that
        # is compute, not data. Wait for it first so that 'data' is the loader's own time.
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
    """fit callback recording the time of every batch_end (and of the epoch start)."""

    def __init__(self):
        self.stamps = []

    def epoch_begin(self, epoch):
        self.stamps.append(time.perf_counter())

    def batch_end(self, info):
        self.stamps.append(time.perf_counter())


def train_iterations(cfg, roidb, iterations, watch, clock, seed=0):
    """Run ``iterations`` batches of ``fit`` with random weights, timing into watch/clock."""
    symbol = common.train_symbol(cfg)
    ctx = [mx.cpu()]
    loader = make_train_loader(cfg, symbol, ctx, roidb)
    train_iter = TimedIter(loader, iterations, watch)
    shapes = dict(loader.provide_data + loader.provide_label)
    arg_params, aux_params = common.random_params(
        symbol, shapes['data'], network_args(cfg, is_train=True).trunk, seed)
    args = fit_args_from_config(cfg, symbol, train_iter, TrainStart(arg_params, aux_params))
    args = replace(args, epochs=replace(args.epochs, end_epoch=1, seed=seed))
    patches = [mock.patch.object(cls, method, watch.wrap(name, getattr(cls, method)))
               for name, cls in CUSTOM_OPS.items() for method in ('forward', 'backward')]
    patches.append(mock.patch.object(shape_cache.ShapeModules, '_bind',
                                     watch.wrap('bind', shape_cache.ShapeModules._bind)))
    for patch in patches:
        patch.start()
    try:
        fcis_module.fit(symbol, train_iter, ctx, arg_params, aux_params, args=args,
                        eval_metric=fcis_metric.get_metrics(TRAIN_OUTPUT_NAMES),
                        callbacks=[clock])
        mx.nd.waitall()
    finally:
        for patch in patches:
            patch.stop()
        loader.close()


def summarize(watch, clock, warmup, batch_images):
    """Figures of the iterations after the first ``warmup`` ones."""
    stamps = clock.stamps
    intervals = [b - a for a, b in zip(stamps[:-1], stamps[1:])][warmup:]
    begin, end = stamps[warmup], stamps[-1]
    window = end - begin
    custom = {name: watch.total(name, begin, end) for name in CUSTOM_OPS}
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
        'data_wait_share': data_s / window, 'bind_share': watch.total('bind', begin, end)
        / window, 'custom_and_data_share': (custom_s + data_s) / window,
    }


def run(config, runs, warmup, seed=0, num_images=12, overrides=()):
    """Training figures of ``config`` ('coco' or 'shapes') with config ``overrides``
    (KEY=VALUE strings) as a dict."""
    cfg = common.load_bench_config(config, overrides)
    watch, clock = Stopwatch(), BatchClock()
    with BenchData(cfg, config, num_images, seed) as roidb:
        train_iterations(cfg, roidb, warmup + runs, watch, clock, seed)
    result = summarize(watch, clock, warmup, batch_images=1)
    result.update({'config': config, 'ohem': bool(cfg.TRAIN.ENABLE_OHEM), 'runs': runs,
                   'warmup': warmup, 'overrides': list(overrides)})
    return result


def table(results):
    rows = []
    for r in results:
        custom = ", ".join("%s %s" % (k, common.ms(v / r['iterations']))
                           for k, v in r['custom_ops_s'].items() if v)
        label = r['config'] + (' (OHEM)' if r['ohem'] else '')
        if r.get('overrides'):
            label += ' ' + ' '.join(r['overrides'])
        rows.append([label,
                     common.ms(r['iteration_median_s']), common.ms(r['iteration_mean_s']),
                     "%.2f" % r['images_per_s'], "%.1f%%" % (100 * r['custom_share']),
                     "%.1f%%" % (100 * r['data_wait_share']),
                     "%.1f%%" % (100 * r['custom_and_data_share']),
                     "%.1f%%" % (100 * r['bind_share']), custom])
    return format_table(["training", "median ms", "mean ms", "img/s", "custom ops",
                         "data wait", "both", "bind", "custom ops ms/iter"], rows)


def main(argv):
    parser = argparse.ArgumentParser(prog="benchmark.py train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(common.CONFIGS), action="append",
                        help="config(s) to run (default: coco and shapes)")
    parser.add_argument("--runs", type=int, default=5, help="measured iterations (COCO)")
    parser.add_argument("--warmup", type=int, default=2, help="dropped iterations (COCO)")
    parser.add_argument("--shapes-factor", type=int, default=4,
                        help="shapes runs/warm-up are this many times the COCO ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", action="append", default=[], metavar="'KEY=VALUE ...'",
                        help="also run each config with these config overrides (one more "
                             "row per --variant), e.g. --variant 'SCALES=[[320,448]]'")
    args = parser.parse_args(argv)
    common.load_ops()
    results = []
    for config in args.config or ['coco', 'shapes']:
        factor = args.shapes_factor if config == 'shapes' else 1
        for overrides in [[]] + [v.split() for v in args.variant]:
            results.append(run(config, args.runs * factor, args.warmup * factor, args.seed,
                               overrides=overrides))
    print("OMP_NUM_THREADS=%s" % os.environ.get("OMP_NUM_THREADS"))
    print(table(results))
    print(json.dumps({"omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                      "train": results}, sort_keys=True))
    return 0
