"""``benchmark.py peer``: torchvision's Mask R-CNN R50-FPN on the same machine, as a
reference for FCIS's COCO figures (optional: skipped when torch/torchvision are missing).

Random weights (no download), 91 classes, inputs resized to 600 px shorter / 1000 px
longer side, score threshold 0 and 100 detections per image (so inference does the same
amount of mask work whatever the weights), torch.set_num_threads(OMP_NUM_THREADS or 2).
Training step: forward of the losses, backward and an SGD update on one 600x1000 image
with 8 synthetic instances; inference: one 600x1000 image.
"""
import argparse
import json
import os

import numpy as np

from experiments.fcis.tools.bench.timing import median_seconds

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


def measure(runs=3, warmup=1):
    """{'train_step_s', 'inference_s', 'threads', 'torch', 'torchvision'}: medians over
    ``runs`` after ``warmup``; raises ImportError without torch/torchvision."""
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
            'inference_s': median_seconds(infer, runs, warmup), 'threads': threads,
            'torch': torch.__version__, 'torchvision': torchvision.__version__}


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
    print(json.dumps({'peer': result}, sort_keys=True))
    return 0
