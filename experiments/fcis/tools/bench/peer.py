"""``benchmark.py peer``: torchvision's Mask R-CNN R50-FPN on the same machine, as a
reference for FCIS's COCO figures (optional: skipped when torch/torchvision are missing).

Random weights (no download), 91 classes, inputs resized to 600 px shorter / 1000 px
longer side, score threshold 0 and 100 detections per image (so inference does the same
amount of mask work whatever the weights), torch.set_num_threads(OMP_NUM_THREADS or 2).
Training step: forward of the losses, backward and an SGD update on one 600x1000 image
with 8 synthetic instances; inference: one 600x1000 image. The step's FLOPs are counted
once by torch's FlopCounterMode (convolutions and matrix products, forward and backward).

Beside it, a floor for FCIS: the FLOPs of the convolutions of the COCO OHEM training
iteration (the release's network at 600x1000, its fixed layers without gradients;
breakdown.training_conv_gflop) at this machine's conv peak. No implementation of that
network trains an iteration faster here, so torchvision's step over that floor is the
largest ratio any can reach.
"""
import argparse
import json
import os

import numpy as np

from experiments.fcis.tools.bench import breakdown, common
from experiments.fcis.tools.bench.timing import median_seconds
from fcis.core.params import fixed_param_names
from lib.utils.table import format_table

SIZE = (600, 1000)


def _model(torchvision, train):
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91, min_size=SIZE[0],
        max_size=SIZE[1], box_score_thresh=0.0, box_detections_per_img=100)
    return model.train() if train else model.eval()


def _targets(torch, rng, count=8):
    """One image's synthetic instances: boxes, labels and their filled-box masks."""
    h, w = SIZE
    x1 = rng.uniform(0, w - 200, count)
    y1 = rng.uniform(0, h - 200, count)
    boxes = np.stack([x1, y1, x1 + rng.uniform(40, 200, count),
                      y1 + rng.uniform(40, 200, count)], 1).astype(np.float32)
    masks = np.zeros((count, h, w), np.uint8)
    for k, (a, b, c, d) in enumerate(boxes.astype(int)):
        masks[k, b:d, a:c] = 1
    return {'boxes': torch.from_numpy(boxes),
            'labels': torch.from_numpy(rng.integers(1, 91, count).astype(np.int64)),
            'masks': torch.from_numpy(masks)}


def step_gflop(train_step):
    """GFLOP of one call of ``train_step`` by torch's FlopCounterMode; None with a torch
    that has none (before 2.1)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    counter = FlopCounterMode(display=False)
    with counter:
        train_step()
    return counter.get_total_flops() / 1e9


def coco_training_conv_gflop():
    """breakdown.training_conv_gflop of the COCO OHEM training symbol at 600x1000 with the
    config's fixed parameters: {conv name: (forward GFLOP, backward GFLOP)}."""
    cfg = common.load_bench_config('coco')
    sym = common.train_symbol(cfg)
    fixed = fixed_param_names(sym.list_arguments(), cfg.network.FIXED_PARAMS,
                              cfg.network.FIXED_PARAMS_MATCH_SUFFIX)
    return breakdown.training_conv_gflop(sym, (1, 3) + SIZE, set(fixed))


def fcis_floor(peak_gflop_per_s):
    """{'conv_gflop', 'floor_s'}: convolution GFLOP of the COCO OHEM training iteration
    (coco_training_conv_gflop) and their time at ``peak_gflop_per_s``."""
    layers = coco_training_conv_gflop()
    gflop = sum(forward + backward for forward, backward in layers.values())
    return {'conv_gflop': gflop, 'floor_s': gflop / peak_gflop_per_s}


def measure(runs=3, warmup=1):
    """{'train_step_s', 'train_step_gflop', 'inference_s', 'threads', 'torch',
    'torchvision'}: medians over ``runs`` after ``warmup``; raises ImportError without
    torch/torchvision."""
    import torch
    import torchvision
    threads = int(os.environ.get('OMP_NUM_THREADS') or 2)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.uniform(0, 1, (3,) + SIZE).astype(np.float32))
    target = _targets(torch, rng)
    model = _model(torchvision, train=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def train_step():
        losses = model([image], [target])
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    model_eval = _model(torchvision, train=False)

    def infer():
        with torch.no_grad():
            model_eval([image])

    return {'train_step_s': median_seconds(train_step, runs, warmup),
            'train_step_gflop': step_gflop(train_step),
            'inference_s': median_seconds(infer, runs, warmup), 'threads': threads,
            'torch': torch.__version__, 'torchvision': torchvision.__version__}


def floor_table(result, floor, peak):
    """The torchvision step beside the FCIS floor, at conv peak ``peak`` GFLOP/s."""
    gflop, seconds = result['train_step_gflop'], result['train_step_s']
    counted = (['-', '-', '-'] if gflop is None else
               ['%.0f' % gflop, '%.0f' % (gflop / seconds), '%.0f%%' % (100 * gflop / seconds / peak)])
    rows = [['torchvision Mask R-CNN R50-FPN step', '%.2f' % seconds] + counted,
            ['FCIS COCO OHEM convolutions at the peak', '%.2f' % floor['floor_s'],
             '%.0f' % floor['conv_gflop'], '%.0f' % peak, '100%']]
    return '\n'.join([
        format_table(['training at 600x1000', 's', 'GFLOP', 'GFLOP/s', 'of peak'], rows),
        "conv peak %.0f GFLOP/s: no FCIS iteration of the release's network trains faster "
        'than %.2f s here, %.2fx the torchvision step at most' % (
            peak, floor['floor_s'], result['train_step_s'] / floor['floor_s'])])


def main(argv):
    parser = argparse.ArgumentParser(prog='benchmark.py peer', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    args = parser.parse_args(argv)
    try:
        result = measure(args.runs, args.warmup)
    except ImportError as err:
        print('peer skipped: torch/torchvision not installed (%s)' % err)
        print(json.dumps({'peer': None}))
        return 0
    print('torchvision %s Mask R-CNN R50-FPN, %d threads, %dx%d: training step %.2f s, '
          'inference %.2f s per image' % (result['torchvision'], result['threads'], SIZE[0],
                                          SIZE[1], result['train_step_s'],
                                          result['inference_s']))
    peak = common.measure_conv_peak(args.runs)['gflop_per_s']
    floor = fcis_floor(peak)
    print(floor_table(result, floor, peak))
    print(json.dumps({'peer': result, 'fcis_floor': floor, 'peak_gflop_per_s': peak},
                     sort_keys=True))
    return 0
