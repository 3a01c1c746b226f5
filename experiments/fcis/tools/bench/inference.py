"""``benchmark.py inference``: time per image of the FCIS test pipeline and its parts.

Random weights (FCISInitializer; BatchNorm statistics and the last head layers calibrated
like a trained net's: experiments/fcis/tools/bench/common.py random_params), one random image of
the config's test scale (COCO 600x1000, shapes 224x320; common.test_size), scale 1. Parts
are measured on separately bound graphs, timed in turn (one run of each per round, so that a
change of the machine's load affects all alike), median of ``--runs`` rounds after a warm-up:

  trunk            the ResNet trunk alone (up to the res5 output that feeds conv_new_1)
  heads            RPN + FCIS head convolutions: (trunk + heads) - trunk
  proposal         RPN softmax + 'fcis_proposal' on the real head outputs
  box parser       'fcis_box_parser' (ITER=2) on the first-pass ROIs
  psroi/assembly   everything after the heads (the test graph with the head outputs as
                   inputs) minus proposal and box parser: PSROIPooling, ChannelOperator,
                   pooling, softmax
  other            full forward - (trunk + heads) - the graph after the heads (scheduling,
                   output copies; can be slightly negative from noise)
  voting           per-class NMS + mask voting (lib.masks.voting) on the real outputs
                   (the calibrated random heads spread the class scores: every ROI is a
                   candidate of every class, the most expensive case)
  paste/RLE        crops_to_rles of every kept detection

"convolutions" are trunk + heads; their FLOPs come from the symbol's shapes.
"""
import argparse
import json
import os

import mxnet as mx
import numpy as np

from experiments.fcis.tools.bench import common
from experiments.fcis.tools.bench.timing import interleaved_medians
from fcis.config.symbol_args import network_args
from fcis.core.tester import ImageFrame, InferenceModule, image_detections
from fcis.symbols import fcis_test, heads, ops
from fcis.symbols.heads import NEW_LAYERS
from lib.masks.voting import crops_to_rles, mask_nms, mask_voting
from lib.utils.table import format_table

HEAD_OUTPUTS = heads.HeadOutputs._fields


def bind(sym, inputs, arg_params, aux_params):
    """Inference executor of ``sym`` with the NDArrays ``inputs`` {name: array} copied in and
    its parameters taken from arg_params/aux_params (copied). Module would insist on one
    batch size for all inputs, which ROI inputs do not have."""
    exe = sym.simple_bind(mx.cpu(), grad_req='null',
                          **{n: a.shape for n, a in inputs.items()})
    for name, array in exe.arg_dict.items():
        (inputs[name] if name in inputs else arg_params[name]).copyto(array)
    for name, array in exe.aux_dict.items():
        aux_params[name].copyto(array)
    return exe


def forward_fn(exe):
    """A function running one blocking forward of the executor ``exe``."""
    def forward():
        exe.forward(is_train=False)
        for out in exe.outputs:
            out.wait_to_read()
    return forward


def after_heads_symbol(args):
    """The test graph after the heads, on input variables named like the head outputs
    (rpn_cls_score, rpn_bbox_pred, fcis_cls_seg, fcis_bbox) and im_info."""
    variables = heads.HeadOutputs(*(mx.sym.Variable(name) for name in HEAD_OUTPUTS))
    return fcis_test.get_test_symbol(args, variables)


def proposal_symbol(args):
    """RPN softmax + proposal layer on inputs rpn_cls_score, rpn_bbox_pred, im_info."""
    prob = heads.rpn_cls_prob_for_proposal(mx.sym.Variable('rpn_cls_score'), args)
    return ops.proposal('rois', prob, mx.sym.Variable('rpn_bbox_pred'),
                        mx.sym.Variable('im_info'), args, args.proposal)


def time_network(cfg, data, im_info, runs, seed=0):
    """Median seconds of the forward parts (timed in turn, timing.interleaved_medians) and
    the full outputs (NumPy) of one image."""
    args = network_args(cfg, is_train=False)
    sym = common.test_symbol(cfg)
    arg_params, aux_params = common.random_params(sym, data.shape, args.trunk, seed)
    internals = sym.get_internals()
    trunk = bind(internals[common.node_input(sym, 'conv_new_1')], {'data': data},
                 arg_params, aux_params)
    head_sym = mx.sym.Group([internals[n + '_output'] for n in HEAD_OUTPUTS])
    head_exe = bind(head_sym, {'data': data}, arg_params, aux_params)
    forward_fn(head_exe)()
    head_outs = dict(zip(HEAD_OUTPUTS, [o.copy() for o in head_exe.outputs]))
    predictor = InferenceModule(sym, arg_params, aux_params, mx.cpu(),
                          [('data', data.shape), ('im_info', im_info.shape)])
    batch = mx.io.DataBatch(data=[data, im_info])
    outputs = predictor.predict(batch)
    after = bind(after_heads_symbol(args), dict(head_outs, im_info=im_info), arg_params,
                 aux_params)
    prop = bind(proposal_symbol(args), {'rpn_cls_score': head_outs['rpn_cls_score'],
                                        'rpn_bbox_pred': head_outs['rpn_bbox_pred'],
                                        'im_info': im_info}, {}, {})
    fns = {'trunk': forward_fn(trunk), 'trunk_heads': forward_fn(head_exe),
           'full': lambda: predictor.predict(batch), 'after_heads': forward_fn(after),
           'proposal': forward_fn(prop)}
    if args.test.iters == 2:
        fns['box_parser'] = box_parser_fn(args, outputs, im_info)
    times = interleaved_medians(fns, runs)
    times.setdefault('box_parser', 0.0)
    return times, outputs


def box_parser_fn(args, outputs, im_info):
    """Forward function of 'fcis_box_parser' on the first-pass ROIs and their deltas."""
    half = outputs['rois'].shape[0] // 2
    rois = mx.nd.array(outputs['rois'][:half])
    deltas = mx.nd.array(outputs['bbox_pred'][:half])
    sym = ops.box_parser('rois_iter2', mx.sym.Variable('rois'), mx.sym.Variable('bbox_pred'),
                         mx.sym.Variable('im_info'), args)
    exe = bind(sym, {'rois': rois, 'bbox_pred': deltas, 'im_info': im_info}, {}, {})
    return forward_fn(exe)


def time_postprocess(cfg, outputs, im_h, im_w, runs):
    """Median seconds of voting (or NMS), paste + RLE, and all of image_detections."""
    test = cfg.TEST
    num_classes = cfg.dataset.NUM_CLASSES
    boxes = outputs['rois'][:, 1:5]  # (R, 4) scale 1: resized = original frame
    common_args = dict(num_classes=num_classes, max_per_image=test.max_per_image, im_h=im_h,
                       im_w=im_w, nms_thresh=test.NMS, binary_thresh=test.BINARY_THRESH,
                       score_thresh=test.SCORE_THRESH)
    masks = outputs['seg_pred'][:, 1]  # (R, S, S)

    def vote():
        if test.USE_MASK_MERGE:
            return mask_voting(masks, boxes, outputs['cls_prob'],
                               merge_thresh=test.MASK_MERGE_THRESH, **common_args)
        return mask_nms(masks, boxes, outputs['cls_prob'], **common_args)

    dets, crops = vote()

    def rles():
        return [crops_to_rles(dets[j], crops[j], im_h, im_w) for j in range(1, num_classes)]

    times = interleaved_medians({
        'voting': vote, 'paste_rle': rles,
        'postprocess': lambda: image_detections(outputs, ImageFrame(1.0, im_h, im_w, im_h, im_w),
                                                num_classes, test)},
        runs)
    times.update({
        'detections': int(sum(len(d) for d in dets)),
        'candidates': int((outputs['cls_prob'][:, 1:] > test.SCORE_THRESH).sum()),
    })
    return times


def conv_gflops(cfg, shape):
    """(trunk GFLOP, head GFLOP) of the test symbol's convolutions for input ``shape``."""
    trunk, head = common.split_flops(common.conv_flops(common.test_symbol(cfg), shape),
                                     NEW_LAYERS)
    return trunk / 1e9, head / 1e9


def run(config, runs, seed=0, size=None):
    """All inference figures of ``config`` ('coco' or 'shapes') as a dict (seconds)."""
    cfg = common.load_bench_config(config)
    height, width = size or common.test_size(cfg)
    data = common.random_image((1, 3, height, width), seed)
    im_info = mx.nd.array([[height, width, 1.0]])
    np.random.seed(seed)  # proposal padding draws from the global state
    times, outputs = time_network(cfg, data, im_info, runs, seed)
    post = time_postprocess(cfg, outputs, height, width, runs)
    trunk_gf, head_gf = conv_gflops(cfg, data.shape)
    conv_s = times['trunk_heads']
    parts = {
        'trunk': times['trunk'],
        'heads': times['trunk_heads'] - times['trunk'],
        'proposal': times['proposal'],
        'box_parser': times['box_parser'],
        'psroi_assembly': times['after_heads'] - times['proposal'] - times['box_parser'],
        'other': times['full'] - times['trunk_heads'] - times['after_heads'],
        'voting': post['voting'],
        'paste_rle': post['paste_rle'],
    }
    total = times['full'] + post['postprocess']
    return {
        'config': config, 'image': [height, width], 'rois': int(outputs['rois'].shape[0]),
        'runs': runs, 'parts_s': parts, 'forward_s': times['full'],
        'after_heads_s': times['after_heads'], 'postprocess_s': post['postprocess'],
        'total_s': total, 'conv_s': conv_s, 'non_conv_s': total - conv_s,
        'non_conv_share': (total - conv_s) / total,
        'detections': post['detections'], 'score_candidates': post['candidates'],
        'trunk_gflop': trunk_gf, 'head_gflop': head_gf,
        'trunk_gflop_per_s': trunk_gf / times['trunk'],
        'conv_gflop_per_s': (trunk_gf + head_gf) / conv_s,
    }


PART_LABELS = [
    ('trunk', 'trunk convolutions'), ('heads', 'RPN + FCIS head convolutions'),
    ('proposal', 'proposal (Python op)'), ('box_parser', 'box parser (Python op)'),
    ('psroi_assembly', 'PSROIPooling + assembly'), ('other', 'other (full - parts)'),
    ('voting', 'NMS + mask voting'), ('paste_rle', 'mask paste + RLE'),
]


def table(result, peak=None):
    """The per-part table of one ``run`` result; ``peak`` GFLOP/s adds the fraction."""
    total = result['total_s']
    rows = []
    for key, label in PART_LABELS:
        seconds = result['parts_s'][key]
        rows.append([label, common.ms(seconds), '%.1f%%' % (100 * seconds / total), ''])
    rows[0][3] = '%.0f GFLOP/s' % result['trunk_gflop_per_s']
    note = '%.0f GFLOP/s' % result['conv_gflop_per_s']
    if peak:
        note += ' = %.0f%% of peak' % (100 * result['conv_gflop_per_s'] / peak)
    rows += [['convolutions (trunk + heads)', common.ms(result['conv_s']),
              '%.1f%%' % (100 * result['conv_s'] / total), note],
             ['everything else', common.ms(result['non_conv_s']),
              '%.1f%%' % (100 * result['non_conv_share']), ''],
             ['total per image', common.ms(total), '100%',
              'forward %s + post %s ms' % (common.ms(result['forward_s']),
                                           common.ms(result['postprocess_s']))]]
    title = 'inference %s %dx%d, %d ROIs, %d detections (%.1f + %.1f GFLOP conv)' % (
        result['config'], result['image'][0], result['image'][1], result['rois'],
        result['detections'], result['trunk_gflop'], result['head_gflop'])
    return title + '\n' + format_table(['part', 'ms', 'share', 'note'], rows)


def main(argv):
    parser = argparse.ArgumentParser(prog='benchmark.py inference', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', choices=sorted(common.CONFIGS), action='append',
                        help='config(s) to run (default: coco and shapes)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per measurement')
    parser.add_argument('--shapes-factor', type=int, default=4,
                        help='shapes runs are this many times --runs (its parts take ms)')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size instead of the config's (for quick checks)")
    parser.add_argument('--no-peak', action='store_true', help='skip the conv peak')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    common.load_ops()
    peak = None if args.no_peak else common.measure_conv_peak(args.runs)
    results = [run(c, args.runs * (args.shapes_factor if c == 'shapes' else 1), args.seed,
                   args.size) for c in args.config or ['coco', 'shapes']]
    print('OMP_NUM_THREADS=%s, median of %d runs after a warm-up (shapes: %d)'
          % (os.environ.get('OMP_NUM_THREADS'), args.runs, args.runs * args.shapes_factor))
    if peak:
        print('conv peak: %.0f GFLOP/s (3x3 conv %s)' % (peak['gflop_per_s'], peak['shape']))
    for result in results:
        print(table(result, peak and peak['gflop_per_s']))
    print(json.dumps({'omp_num_threads': os.environ.get('OMP_NUM_THREADS'), 'peak': peak,
                      'inference': results}, sort_keys=True))
    return 0
