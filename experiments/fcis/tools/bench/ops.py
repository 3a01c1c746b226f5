"""``benchmark.py ops``: the native operators against MXNet's built-ins.

PSROIPooling at the COCO test sizes (data 1x7938x38x63, i.e. 81 classes x 2 x 7 x 7 score
maps of a 600x1000 image at stride 16; 300 random ROIs; spatial_scale 1/16, output_dim 162,
pooled_size 21, group_size 7) against ``mx.nd.contrib.PSROIPooling``; ChannelOperator at
the FCIS size (600 ROIs x 162 x 21 x 21, 81 groups) against compositions of built-in ops;
the Python CustomOps (proposal, proposal target, OHEM, box parser) at COCO sizes
(experiments/fcis/tools/bench/custom_ops.py). Forward and backward (the op's backward through
autograd) are timed as the median of ``--runs`` runs after a warm-up. Prints a table, then
one JSON line with the numbers.
Exits with 1 if our PSROIPooling output or gradient is not identical to contrib's.
"""
import argparse
import json
import os

import mxnet as mx
import numpy as np

from experiments.fcis.tools.bench.custom_ops import bench_custom_ops
from experiments.fcis.tools.bench.timing import median_seconds
from lib.ops import load_ops
from lib.utils.table import format_table

PSROI_ATTRS = dict(spatial_scale=1.0 / 16, output_dim=162, pooled_size=21, group_size=7)
CLASSES = 81


def coco_rois(rng, num, image_h=600, image_w=1000):
    """(num, 5) random boxes inside a 600x1000 image, 16 to 400 pixels a side."""
    x1 = rng.uniform(0, image_w - 16, num)
    y1 = rng.uniform(0, image_h - 16, num)
    x2 = np.minimum(x1 + rng.uniform(16, 400, num), image_w - 1)
    y2 = np.minimum(y1 + rng.uniform(16, 400, num), image_h - 1)
    return np.stack([np.zeros(num), x1, y1, x2, y2], axis=1).astype(np.float32)


def time_op(op, inputs, grad_index, head, runs):
    """Median forward and backward seconds of op(*inputs), plus its output and the gradient
    of inputs[grad_index] (both NumPy)."""
    forward = median_seconds(lambda: op(*inputs).wait_to_read(), runs)
    x = inputs[grad_index].copy()
    x.attach_grad()
    args = list(inputs)
    args[grad_index] = x
    with mx.autograd.record():
        out = op(*args)

    def backward():
        out.backward(head, retain_graph=True)
        x.grad.wait_to_read()

    backward_time = median_seconds(backward, runs)
    return forward, backward_time, out.asnumpy(), x.grad.asnumpy()


def bench_psroi(rng, runs, num_rois):
    data = mx.nd.array(rng.standard_normal((1, 7938, 38, 63)).astype(np.float32))
    rois = mx.nd.array(coco_rois(rng, num_rois))
    head = mx.nd.array(rng.standard_normal((num_rois, 162, 21, 21)).astype(np.float32))
    contrib = time_op(lambda d, r: mx.nd.contrib.PSROIPooling(d, r, **PSROI_ATTRS),
                      [data, rois], 0, head, runs)
    ours = time_op(lambda d, r: mx.nd.PSROIPooling(d, r, **PSROI_ATTRS),
                   [data, rois], 0, head, runs)
    return {
        'contrib_forward_s': contrib[0], 'ours_forward_s': ours[0],
        'forward_speedup': contrib[0] / ours[0],
        'contrib_backward_s': contrib[1], 'ours_backward_s': ours[1],
        'backward_speedup': contrib[1] / ours[1],
        'forward_identical': bool(np.array_equal(contrib[2], ours[2])),
        'backward_identical': bool(np.array_equal(contrib[3], ours[3])),
    }


def builtin_channel_ops(num):
    """Built-in compositions equal to the three ChannelOperator types on (num, 162, 21, 21);
    each takes (x, labels)."""
    grouped = (num, CLASSES, 2, 21, 21)  # (N, group, k, 21, 21)

    def pick(x, labels):
        flat = x.reshape((num, CLASSES, 2 * 21 * 21))  # (N, group, k*21*21)
        index = labels.reshape((num, 1)).broadcast_to((num, 2 * 21 * 21))
        return mx.nd.pick(flat, index, axis=1).reshape((num, 2, 21, 21))

    return {
        'Group_Max': lambda x, labels: mx.nd.max(x.reshape(grouped), axis=2),
        'Group_Softmax': lambda x, labels: mx.nd.softmax(x.reshape(grouped),
                                                         axis=2).reshape(x.shape),
        'Group_Pick': pick,
    }


def our_channel_op(op_type):
    """Our ChannelOperator as a function of (x, labels)."""
    if op_type == 'Group_Pick':
        return lambda x, labels: mx.nd.ChannelOperator(x, labels, op_type=op_type,
                                                        group=CLASSES, pick_type='Label_Pick')
    return lambda x, labels: mx.nd.ChannelOperator(x, op_type=op_type, group=CLASSES)


def bench_channel_operator(rng, runs, num):
    x = mx.nd.array(rng.standard_normal((num, 2 * CLASSES, 21, 21)).astype(np.float32))
    labels = mx.nd.array(rng.integers(0, CLASSES, num).astype(np.float32))
    results = {}
    for op_type, builtin_op in builtin_channel_ops(num).items():
        ours_op = our_channel_op(op_type)
        head = mx.nd.array(rng.standard_normal(ours_op(x, labels).shape).astype(np.float32))
        ref = time_op(builtin_op, [x, labels], 0, head, runs)
        ours = time_op(ours_op, [x, labels], 0, head, runs)
        results[op_type] = {
            'builtin_forward_s': ref[0], 'ours_forward_s': ours[0],
            'forward_speedup': ref[0] / ours[0],
            'builtin_backward_s': ref[1], 'ours_backward_s': ours[1],
            'backward_speedup': ref[1] / ours[1],
            'max_abs_diff': float(max(np.abs(ref[2] - ours[2]).max(),
                                      np.abs(ref[3] - ours[3]).max())),
        }
    return results


def custom_table(custom):
    return format_table(['Python CustomOp (COCO)', 'forward ms'],
                        [[name, '%.1f' % (1000 * s)] for name, s in custom.items()])


def table(psroi, channel):
    ms = lambda s: '%.1f' % (1000 * s)  # noqa: E731
    rows = [['PSROIPooling (COCO)', 'contrib', ms(psroi['contrib_forward_s']),
             ms(psroi['contrib_backward_s']), ''],
            ['PSROIPooling (COCO)', 'ours', ms(psroi['ours_forward_s']),
             ms(psroi['ours_backward_s']),
             'identical' if psroi['forward_identical'] and psroi['backward_identical']
             else 'DIFFERENT'],
            ['  speed-up', '', '%.2fx' % psroi['forward_speedup'],
             '%.2fx' % psroi['backward_speedup'], '']]
    for op_type, c in channel.items():
        rows += [['%s (FCIS)' % op_type, 'built-in', ms(c['builtin_forward_s']),
                  ms(c['builtin_backward_s']), ''],
                 ['%s (FCIS)' % op_type, 'ours', ms(c['ours_forward_s']),
                  ms(c['ours_backward_s']), 'max diff %.1e' % c['max_abs_diff']],
                 ['  speed-up', '', '%.2fx' % c['forward_speedup'],
                  '%.2fx' % c['backward_speedup'], '']]
    return format_table(['operator', 'impl', 'forward ms', 'backward ms', 'check'], rows)


def main(argv):
    parser = argparse.ArgumentParser(prog='benchmark.py ops', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=5, help='timed runs per measurement')
    parser.add_argument('--rois', type=int, default=300, help='PSROIPooling ROIs')
    parser.add_argument('--mask-rois', type=int, default=600, help='ChannelOperator ROIs')
    parser.add_argument('--no-channel', action='store_true', help='skip ChannelOperator')
    parser.add_argument('--no-custom', action='store_true', help='skip the Python CustomOps')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    load_ops()
    rng = np.random.default_rng(args.seed)
    psroi = bench_psroi(rng, args.runs, args.rois)
    channel = {} if args.no_channel else bench_channel_operator(rng, args.runs, args.mask_rois)
    custom = {} if args.no_custom else bench_custom_ops(rng, args.runs)
    threads = os.environ.get('OMP_NUM_THREADS')
    print('OMP_NUM_THREADS=%s, median of %d runs after a warm-up' % (threads, args.runs))
    print(table(psroi, channel))
    if custom:
        print(custom_table(custom))
    print('goal forward >= 3x: %s, backward >= 5x: %s'
          % (psroi['forward_speedup'] >= 3, psroi['backward_speedup'] >= 5))
    print(json.dumps({'omp_num_threads': threads, 'runs': args.runs,
                      'psroi_pooling': psroi, 'channel_operator': channel,
                      'custom_ops': custom}, sort_keys=True))
    return 0 if psroi['forward_identical'] and psroi['backward_identical'] else 1
