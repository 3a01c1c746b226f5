"""``benchmark.py all``: the whole pipeline side by side in one run, against the goals.

Order: conv peak, inference (COCO, shapes), training (COCO with OHEM, shapes in one process
and in the config's default.LOCAL_WORKERS processes), loaders, then peak memory (one
subprocess each: COCO inference, COCO training), conv peak again.
The peak is the larger of the two peak measurements; the load average at the start and
the end is printed so that a run on a busy machine shows as such. Prints the tables, the
goals with their status, and last one JSON line with every figure.
"""
import argparse
import json
import os

from experiments.fcis.tools.bench import common, inference, loader, train
from lib.utils.table import format_table

GOALS = {
    'inference_non_conv_share_max': 0.10,
    'conv_fraction_of_peak_min': 0.75,
    'train_custom_and_data_share_max': 0.10,
    'loader_over_train_min': 3.0,
    'inference_memory_gb_max': 4.0,
    'train_memory_gb_max': 12.0,
}


def goal_rows(figures):
    """[(goal text, measured text, met)] for the COCO figures of one run."""
    inf, tr, ld, mem = (figures['inference']['coco'], figures['train']['coco'],
                        figures['loader']['coco'], figures['memory'])
    fraction = inf['conv_gflop_per_s'] / figures['peak_gflop_per_s']
    ratio = ld['images_per_s'] / tr['images_per_s']
    inf_gb, tr_gb = common.gb(mem['inference']['peak_rss_mb']), common.gb(
        mem['train']['peak_rss_mb'])
    return [
        ('inference: everything but convs <= 10%', '%.1f%%' % (100 * inf['non_conv_share']),
         inf['non_conv_share'] <= GOALS['inference_non_conv_share_max']),
        ('inference: convs >= 75% of peak', '%.0f%% (%.0f of %.0f GFLOP/s)' % (
            100 * fraction, inf['conv_gflop_per_s'], figures['peak_gflop_per_s']),
         fraction >= GOALS['conv_fraction_of_peak_min']),
        ('training: custom ops + data wait <= 10%', '%.1f%%' % (
            100 * tr['custom_and_data_share']),
         tr['custom_and_data_share'] <= GOALS['train_custom_and_data_share_max']),
        ('loader >= 3x training img/s', '%.1fx (%.1f vs %.2f img/s)' % (
            ratio, ld['images_per_s'], tr['images_per_s']),
         ratio >= GOALS['loader_over_train_min']),
        ('inference peak memory < 4 GB', '%.2f GB' % inf_gb,
         inf_gb < GOALS['inference_memory_gb_max']),
        ('training peak memory < 12 GB', '%.2f GB' % tr_gb, tr_gb < GOALS['train_memory_gb_max']),
    ]


def measure(runs, seed):
    """Every figure of the run as one dict."""
    figures = {'load_start': os.getloadavg(), 'omp_num_threads': os.environ.get(
        'OMP_NUM_THREADS'), 'runs': runs}
    peaks = [common.measure_conv_peak(runs)]
    figures['inference'] = {'coco': inference.run('coco', runs, seed),
                            'shapes': inference.run('shapes', 4 * runs, seed)}
    figures['train'] = {'coco': train.run('coco', runs, 2, seed),
                        'shapes': train.run('shapes', 4 * runs, 8, seed)}
    workers = train.config_workers('shapes')
    if workers > 1:   # as the shapes config trains (default.LOCAL_WORKERS)
        figures['train']['shapes_workers'] = train.run('shapes', 4 * runs, 8, seed,
                                                       workers=workers)
    figures['loader'] = {c: loader.run(c, 20, seed) for c in ('coco', 'shapes')}
    figures['memory'] = {kind: common.peak_memory_subprocess(kind, 'coco')
                         for kind in ('inference', 'train')}
    peaks.append(common.measure_conv_peak(runs))
    figures['peaks'] = peaks
    figures['peak_gflop_per_s'] = max(p['gflop_per_s'] for p in peaks)
    figures['load_end'] = os.getloadavg()
    return figures


def report(figures):
    """The printed tables of one ``measure`` result."""
    peak = figures['peak_gflop_per_s']
    lines = ['OMP_NUM_THREADS=%s, median of %d runs after a warm-up (shapes: 4x); load '
             'average %s at the start, %s at the end' % (
                 figures['omp_num_threads'], figures['runs'],
                 ' '.join('%.2f' % v for v in figures['load_start']),
                 ' '.join('%.2f' % v for v in figures['load_end'])),
             'conv peak: %.0f GFLOP/s (3x3 conv %s; %s GFLOP/s at start/end)' % (
                 peak, figures['peaks'][0]['shape'],
                 '/'.join('%.0f' % p['gflop_per_s'] for p in figures['peaks']))]
    low, high = sorted(p['gflop_per_s'] for p in figures['peaks'])
    if low < 0.85 * high:
        lines.append('WARNING: the conv peak changed by %.0f%% during the run: the machine was '
                     'busy (other processes); the figures are not comparable' % (
                         100 * (1 - low / high)))
    for config in ('coco', 'shapes'):
        lines += ['', inference.table(figures['inference'][config], peak)]
    trains = [figures['train'][c] for c in ('coco', 'shapes', 'shapes_workers')
              if c in figures['train']]
    ips = {c: figures['train'][c]['images_per_s'] for c in ('coco', 'shapes')}
    lines += ['', train.table(trains), '',
              loader.table([figures['loader'][c] for c in ('coco', 'shapes')], ips)]
    mem = figures['memory']
    lines += ['', 'peak memory (own process each): COCO inference %.2f GB, COCO training '
              '%.2f GB' % (common.gb(mem['inference']['peak_rss_mb']),
                           common.gb(mem['train']['peak_rss_mb']))]
    goals = goal_rows(figures)
    lines += ['', format_table(['goal (COCO)', 'measured', 'met'],
                               [[g, m, 'yes' if ok else 'NO'] for g, m, ok in goals])]
    figures['goals_met'] = {g: bool(ok) for g, _, ok in goals}
    return '\n'.join(lines)


def main(argv):
    parser = argparse.ArgumentParser(prog='benchmark.py all', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=5, help='timed runs per measurement')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    common.load_ops()
    figures = measure(args.runs, args.seed)
    print(report(figures))
    print(json.dumps(figures, sort_keys=True))
    return 0 if all(figures['goals_met'].values()) else 1
