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
  CPU         CPU time of the process (and its worker processes) over the measured
              window (200% = two cores busy)

Shares are of the measured window (mean iteration x runs). Each run is then broken down
(experiments/fcis/tools/bench/breakdown.py): convolutions with their FLOPs and fraction of the
machine's conv peak, other operators, each custom op, metrics, optimizer, data, Python;
then the ``--conv-layers`` convolutions that take the most time, each pass's rate, and the
``--ops`` other MXNet operators that take the most time (a second run of the iterations
under MXNet's profiler: experiments/fcis/tools/bench/op_profile.py; not for --env,
--busy-core or --local-workers rows).
``--busy-core`` repeats each run with a busy-loop process beside it; ``--env`` repeats it
in a child process with other environment variables (e.g. the engine);
``--local-workers N`` (default: the config's default.LOCAL_WORKERS, 2 for shapes) repeats
each run (and --variant) in N training processes as default.LOCAL_WORKERS trains
(experiments/fcis/tools/bench/train_loop.py train_in_group): an iteration is then one
batch of N images, its breakdown worker 0's with its waits for the others, and the ratios
compare the time per image. The loop itself (timed phases, custom ops and loader) is
experiments/fcis/tools/bench/train_loop.py.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys

from experiments.fcis.tools.bench import breakdown, common, op_profile
from experiments.fcis.tools.bench.data import BenchData
from experiments.fcis.tools.bench.train_loop import (CUSTOM_OPS, BatchClock, Stopwatch,
                                                     train_in_group, train_iterations,
                                                     worker_threads)
from fcis.core.params import fixed_param_names
from fcis.core.run import contexts
from lib.utils.checkpoint import CheckpointError, load_params
from lib.utils.table import format_table
from lib.utils.threads import usable_cores


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
           '--conv-layers', '0', '--ops', '0', '--local-workers', '1'] + (
               ['--params', args.params] if args.params else [])
    proc = subprocess.run(cmd, cwd=common.ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise RuntimeError('benchmark with %s failed: %s' % (env_text, ' '.join(tail)))
    results = json.loads(proc.stdout.strip().splitlines()[-1])['train']
    for r in results:
        r['env'] = env_text
    return results


def config_workers(config):
    """default.LOCAL_WORKERS of benchmark config ``config``: the processes it trains in."""
    return int(common.load_bench_config(config).default.LOCAL_WORKERS)


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
    parser.add_argument('--local-workers', type=int, metavar='N',
                        help='also run each config and --variant in N training processes '
                             '(default.LOCAL_WORKERS), each on its own images of every batch; '
                             "images/s and CPU count all of them (default: the config's "
                             'LOCAL_WORKERS, 2 for shapes; 1: one process only)')
    parser.add_argument('--conv-layers', type=int, default=10, metavar='N',
                        help='list the N convolutions that take the most time (0: none)')
    parser.add_argument('--ops', type=int, default=10, metavar='N',
                        help='list the N other MXNet operators that take the most time, from '
                             "a second run of at most 20 (COCO: 5) iterations under MXNet's "
                             'profiler (0: no such run)')
    args = parser.parse_args(argv)
    if args.local_workers is not None and args.local_workers < 1:
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
        workers = args.local_workers or config_workers(config)
        for overrides in [[]] + [v.split() for v in args.variant]:
            results.append(run(config, *counts, overrides=overrides, params=args.params))
            if args.ops > 0:
                results[-1]['op_profile'] = operator_profile(
                    config, min(counts[0], 5 * factor), counts[1], args.seed, overrides,
                    args.params)
            if workers > 1:
                results.append(run(config, *counts, overrides=overrides, params=args.params,
                                   workers=workers))
        if args.busy_core:
            results.append(run(config, *counts, busy=True, params=args.params))
            if workers > 1:
                results.append(run(config, *counts, busy=True, params=args.params,
                                   workers=workers))
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
    iteration, the mean-iteration ratio); a row with the busy loop against the row of the
    same config and workers without it."""
    lines, first = [], {}
    for r in results:
        base = first.setdefault(r['config'], r)
        if r.get('busy'):
            base = next((a for a in results if _alone_of(a, r)), base)
        if r is not base:
            lines.append('%s / %s: %.2fx the time per image' % (
                row_label(r), row_label(base), base['images_per_s'] / r['images_per_s']))
    return '\n'.join(lines)


def _alone_of(row, busy_row):
    """True when ``row`` is ``busy_row``'s run without the busy loop (same config and
    workers, no overrides, environment or starting weights of its own)."""
    return (not row.get('busy') and row['config'] == busy_row['config']
            and row.get('workers', 1) == busy_row.get('workers', 1)
            and not row.get('overrides') and not row.get('env')
            and row.get('params') == busy_row.get('params'))
