"""Helpers on roidb entries (one dict per image; see ``lib.dataset.imdb`` for the keys).

Masks stay as COCO RLE dicts in the original (unflipped) frame until a batch needs them:
``decode_masks`` turns an entry's RLEs into a dense (K, H, W) array, mirrored when the
entry is flipped.
"""
import logging

import numpy as np
import pycocotools.mask as mask_utils

logger = logging.getLogger(__name__)


def mask_extent(mask):
    """Tight inclusive box [x1, y1, x2, y2] of the nonzero pixels of an (H, W) mask, or None."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]


def decode_masks(entry):
    """Decode ``entry['masks']`` to (K, H, W) uint8 in {0, 1}, mirrored if ``entry['flipped']``."""
    height, width = int(entry['height']), int(entry['width'])
    rles = entry['masks']
    if len(rles) == 0:
        return np.zeros((0, height, width), dtype=np.uint8)
    dense = mask_utils.decode(list(rles))                       # (H, W, K) Fortran order
    if dense.shape[:2] != (height, width):
        raise ValueError('mask size %s does not match image size %s for %s'
                         % (dense.shape[:2], (height, width), entry['image']))
    masks = dense.transpose(2, 0, 1)                            # (K, H, W)
    if entry.get('flipped', False):
        masks = masks[:, :, ::-1]
    return np.ascontiguousarray(masks)


def flip_boxes(boxes, width):
    """Mirror (K, 4) inclusive-pixel boxes [x1, y1, x2, y2] in an image ``width`` pixels wide."""
    flipped = boxes.copy()
    flipped[:, 0] = width - boxes[:, 2] - 1
    flipped[:, 2] = width - boxes[:, 0] - 1
    return flipped


def flipped_entry(entry):
    """Copy of ``entry`` for the mirrored image: flipped boxes (and crowd boxes), flipped=True.

    The masks list is shared with the original entry: RLEs stay in the unflipped frame and
    ``decode_masks`` mirrors them.
    """
    if entry.get('flipped', False):
        raise ValueError('entry for %s is already flipped' % entry['image'])
    out = dict(entry)
    out['boxes'] = flip_boxes(entry['boxes'], entry['width'])
    if 'crowd_boxes' in entry:
        out['crowd_boxes'] = flip_boxes(entry['crowd_boxes'], entry['width'])
    if np.any(out['boxes'][:, 2] < out['boxes'][:, 0]):
        raise ValueError('a box of %s lies outside its image width %d; fix the annotation'
                         % (entry['image'], entry['width']))
    out['flipped'] = True
    return out


def append_flipped(roidb):
    """Return ``roidb`` followed by a flipped copy of every entry (2N entries)."""
    return list(roidb) + [flipped_entry(entry) for entry in roidb]


def filter_roidb(roidb):
    """Drop entries without any ground-truth instance; logs how many were dropped.

    Returns the kept entries (a new list).
    """
    kept = [entry for entry in roidb if len(entry['boxes']) > 0]
    dropped = len(roidb) - len(kept)
    if dropped:
        logger.info('dropped %d of %d images without usable annotations from training',
                    dropped, len(roidb))
    return kept


def empty_boxes():
    """(0, 4) float32 box array."""
    return np.zeros((0, 4), dtype=np.float32)


def make_entry(image, height, width, boxes, gt_classes, masks, image_id, crowd_boxes=None):
    """Build one roidb entry with the contract's dtypes.

    boxes: (K, 4) [x1, y1, x2, y2] inclusive pixels; gt_classes: (K,) contiguous class
    indices 1..C-1; masks: K COCO RLE dicts; crowd_boxes: (M, 4) regions kept out of the
    training targets.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)  # (K, 4)
    gt_classes = np.asarray(gt_classes, dtype=np.int32).reshape(-1)  # (K,)
    if not (len(boxes) == len(gt_classes) == len(masks)):
        raise ValueError('%s: %d boxes, %d classes and %d masks must agree'
                         % (image, len(boxes), len(gt_classes), len(masks)))
    crowd = empty_boxes() if crowd_boxes is None else np.asarray(crowd_boxes, np.float32).reshape(-1, 4)
    return {'image': image, 'height': int(height), 'width': int(width), 'boxes': boxes,
            'gt_classes': gt_classes, 'masks': list(masks), 'flipped': False,
            'image_id': image_id, 'crowd_boxes': crowd, 'skipped': []}
