"""``benchmark.py loader``: images per second the training loader delivers.

The config's TrainLoader (fcis.train_end2end.make_train_loader: its default 2 worker
threads, 4 batches ahead) over the benchmark data (experiments/fcis/tools/bench/data.py) is read
as fast as possible, nothing else running: ``--batches`` batches after the first one
(which fills the queue). Also the time of one batch prepared on the calling thread
(``make_batch``, median) split into its parts. With ``--train-ips`` (images per second of
training, e.g. from ``benchmark.py train``) it prints the ratio.
"""
import argparse
import json
import os
import statistics
import time
from unittest import mock

import mxnet as mx

from experiments.fcis.tools.bench import common
from experiments.fcis.tools.bench.data import BenchData
from fcis.core import loader as loader_module
from fcis.train_end2end import make_train_loader
from lib.utils.table import format_table


def loader_throughput(loader, batches):
    """Images per second over ``batches`` batches after the first."""
    loader.set_epoch(0)
    done, epoch = 0, 0
    loader.next()  # starts the threads, fills the queue
    start = time.perf_counter()
    while done < batches:
        try:
            loader.next()
        except StopIteration:
            epoch += 1
            loader.set_epoch(epoch)
            continue
        done += 1
    seconds = time.perf_counter() - start
    loader.close()
    return loader.batch_size * batches / seconds


def batch_parts(loader, batches):
    """Median seconds of make_batch on this thread and of its image / RPN-target parts."""
    spans = {'images': [], 'rpn_targets': []}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            spans[name].append(time.perf_counter() - start)
            return out
        return wrapper

    totals = []
    plan = loader._make_plan(0)
    with mock.patch.object(loader_module, 'load_train_image',
                           timed('images', loader_module.load_train_image)), \
            mock.patch.object(loader_module, 'rpn_targets',
                              timed('rpn_targets', loader_module.rpn_targets)):
        for index in range(min(batches, len(plan))):
            chunk, pad, seed = plan[index]
            start = time.perf_counter()
            loader.make_batch((0, index, chunk, pad, seed))
            totals.append(time.perf_counter() - start)
    return {'make_batch_s': statistics.median(totals),
            'load_images_s': statistics.median(spans['images']) * loader.batch_size,
            'rpn_targets_s': statistics.median(spans['rpn_targets'])}


def run(config, batches, seed=0, num_images=12):
    """Loader figures of ``config`` ('coco' or 'shapes')."""
    cfg = common.load_bench_config(config)
    symbol = common.train_symbol(cfg)
    with BenchData(cfg, config, num_images, seed) as roidb:
        loader = make_train_loader(cfg, symbol, [mx.cpu()], roidb)
        result = batch_parts(loader, batches)
        result['images_per_s'] = loader_throughput(loader, batches)
        result['workers'] = loader.num_workers
    result.update({'config': config, 'batches': batches})
    return result


def table(results, train_ips=None):
    rows = []
    for r in results:
        ratio = ''
        if train_ips and train_ips.get(r['config']):
            ratio = '%.1fx' % (r['images_per_s'] / train_ips[r['config']])
        rows.append([r['config'], '%.1f' % r['images_per_s'], common.ms(r['make_batch_s']),
                     common.ms(r['load_images_s']), common.ms(r['rpn_targets_s']),
                     '%.2f' % train_ips[r['config']] if ratio else '', ratio])
    return format_table(['loader', 'img/s (%d threads)' % results[0]['workers'],
                         'batch ms (1 thread)', 'images ms', 'RPN targets ms',
                         'train img/s', 'loader/train'], rows)


def main(argv):
    parser = argparse.ArgumentParser(prog='benchmark.py loader', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', choices=sorted(common.CONFIGS), action='append',
                        help='config(s) to run (default: coco and shapes)')
    parser.add_argument('--batches', type=int, default=20, help='batches read (timed)')
    parser.add_argument('--train-ips', type=float, nargs=2, metavar=('COCO', 'SHAPES'),
                        help='training images per second to compare with')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    common.load_ops()
    results = [run(c, args.batches, args.seed) for c in args.config or ['coco', 'shapes']]
    train_ips = dict(zip(['coco', 'shapes'], args.train_ips)) if args.train_ips else None
    print('OMP_NUM_THREADS=%s' % os.environ.get('OMP_NUM_THREADS'))
    print(table(results, train_ips))
    print(json.dumps({'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
                      'loader': results, 'train_ips': train_ips}, sort_keys=True))
    return 0
