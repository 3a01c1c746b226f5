"""Training data of the benchmarks: a synthetic COCO-like set written to a temporary folder
(JPEG images, instance masks as RLE) for the COCO config, the generated shapes set for the
shapes config.

The COCO-like images are 480x800, which the loader scales to the 600x1000 input that the
torchvision peer (peer.py) is measured at. Each has a uniformly drawn 2..15 instances (COCO
averages ~7), filled ellipses and polygons of 20..300 pixels, so decoding, resizing and
mask work cost what they cost on COCO.
"""
import os
import shutil
import tempfile

import cv2
import numpy as np

from experiments.fcis.tools.bench.common import ROOT
from fcis.train_end2end import train_roidb
from lib.dataset.roidb import append_flipped, make_entry, mask_extent
from lib.masks.rle import encode_mask

COCO_IMAGE = (480, 800)  # (H, W): x1.25 -> 600x1000, the peer's input
COCO_INSTANCES = (2, 15)


def _instance_mask(rng, height, width):
    """(H, W) uint8 mask of one random filled ellipse or polygon."""
    mask = np.zeros((height, width), dtype=np.uint8)
    cx, cy = rng.integers(0, width), rng.integers(0, height)
    size = int(rng.integers(20, 300))
    if rng.random() < 0.5:
        axes = (max(4, size // 2), max(4, int(size * rng.uniform(0.3, 1.0)) // 2))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 12))))
        radii = rng.uniform(0.3, 0.5, angles.size) * size
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    return mask


def _image(rng, height, width):
    """(H, W, 3) uint8 BGR image with smooth colored structure (JPEG-compresses like a photo)."""
    small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def synthetic_coco(folder, num_images, seed=0, num_classes=81, size=COCO_IMAGE):
    """Write ``num_images`` JPEGs into ``folder`` and return their roidb (not flipped)."""
    rng = np.random.default_rng(seed)
    height, width = size
    os.makedirs(folder, exist_ok=True)
    roidb = []
    for index in range(num_images):
        path = os.path.join(folder, '%06d.jpg' % index)
        cv2.imwrite(path, _image(rng, height, width), [cv2.IMWRITE_JPEG_QUALITY, 90])
        boxes, masks = [], []
        count = rng.integers(COCO_INSTANCES[0], COCO_INSTANCES[1] + 1)
        while len(masks) < count:
            mask = _instance_mask(rng, height, width)
            box = mask_extent(mask)
            if box is not None and mask.sum() >= 64:
                boxes.append(box)
                masks.append(encode_mask(mask))
        classes = rng.integers(1, num_classes, len(masks))
        roidb.append(make_entry(path, height, width, boxes, classes, masks, index))
    return roidb


class BenchData(object):
    """Training roidb of a benchmark config (with flipped copies, as training uses);
    a context manager that deletes the temporary COCO-like images on exit."""

    def __init__(self, cfg, config, num_images=12, seed=0):
        self.folder = None
        if config == 'coco':
            self.folder = tempfile.mkdtemp(prefix='fcis_bench_')
            roidb = synthetic_coco(self.folder, num_images, seed, cfg.dataset.NUM_CLASSES)
            self.roidb = append_flipped(roidb) if cfg.TRAIN.FLIP else roidb
        else:
            cfg.dataset.root_path = os.path.join(ROOT, 'data')
            cfg.dataset.dataset_path = os.path.join(ROOT, 'data', 'shapes')
            self.roidb = [dict(e, image=os.path.join(ROOT, e['image'])) for e in train_roidb(cfg)]

    def __enter__(self):
        return self.roidb

    def __exit__(self, *exc):
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        return False
