"""COCO results files: per-image detections <-> a JSON list of result dicts.

Per-image detection structure used by the tester (C = number of classes, background 0):

- ``all_boxes[i][j]``: (n, 5) float array for image i, contiguous class j (1..C-1):
  x1, y1, x2, y2 (inclusive pixel corners in the original image) and the score.
- ``all_masks[i][j]``: list of n COCO RLE dicts ({'size': [H, W], 'counts': bytes|str}),
  full-image masks, aligned with the rows of ``all_boxes[i][j]``.
- Entry j = 0 (background) is ignored; an empty class is an empty (0, 5) array and [].

A COCO result dict is ``{image_id, category_id, segmentation, bbox, score}`` with
``segmentation`` an RLE whose counts is a str and ``bbox`` = [x, y, w, h] where
w = x2 - x1 + 1 and h = y2 - y1 + 1 (COCO convention).
"""
import json
import os

import numpy as np

from lib.masks.rle import normalize_rle
from lib.utils.atomic import write_json_atomic


def contiguous_to_coco_ids(class_to_coco_id, classes=None):
    """Normalize a class mapping to a dict {contiguous class index j: COCO category id}.

    ``class_to_coco_id`` may be a dict keyed by contiguous index, a sequence indexed by j
    (entry 0, background, ignored), or a dict keyed by class name (then ``classes``, the
    list of class names in contiguous order, is required).
    """
    if isinstance(class_to_coco_id, dict):
        keys = list(class_to_coco_id.keys())
        if keys and all(isinstance(k, str) for k in keys):
            if classes is None:
                raise ValueError('class_to_coco_id is keyed by class name: pass classes '
                                 '(class names in contiguous order) as well')
            return {j: int(class_to_coco_id[name]) for j, name in enumerate(classes)
                    if j > 0 and name in class_to_coco_id}
        return {int(j): int(cid) for j, cid in class_to_coco_id.items() if int(j) > 0}
    return {j: int(cid) for j, cid in enumerate(class_to_coco_id) if j > 0 and cid is not None}


def boxes_to_xywh(boxes):
    """(n, >=4) x1,y1,x2,y2 inclusive -> (n, 4) x, y, w, h with w = x2 - x1 + 1."""
    boxes = np.asarray(boxes, dtype=np.float64)
    boxes = boxes.reshape(-1, boxes.shape[-1])  # (n, 4 or 5)
    return np.stack([boxes[:, 0], boxes[:, 1],
                     boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)


def image_results(image_id, boxes_per_class, masks_per_class, class_map):
    """COCO result dicts of one image.

    boxes_per_class[j]: (n, 5); masks_per_class[j]: n RLEs; class_map: {j: category id}.
    """
    results = []
    for j in range(1, len(boxes_per_class)):
        dets = np.asarray(boxes_per_class[j], dtype=np.float64)
        if dets.size == 0:
            continue
        if dets.ndim != 2 or dets.shape[1] != 5:
            raise ValueError('boxes of image %r class %d must be (n, 5) x1,y1,x2,y2,score, got %s'
                             % (image_id, j, dets.shape))
        masks = masks_per_class[j]
        if len(masks) != dets.shape[0]:
            raise ValueError('image %r class %d has %d boxes but %d masks: give one RLE per box'
                             % (image_id, j, dets.shape[0], len(masks)))
        if j not in class_map:
            raise KeyError('class index %d has no COCO category id in class_to_coco_id' % j)
        xywh = boxes_to_xywh(dets)  # (n, 4)
        for k in range(dets.shape[0]):
            results.append({'image_id': int(image_id), 'category_id': class_map[j],
                            'segmentation': normalize_rle(masks[k]),
                            'bbox': [float(v) for v in xywh[k]],
                            'score': float(dets[k, 4])})
    return results


def detections_to_results(all_boxes, all_masks, image_ids, class_to_coco_id, classes=None):
    """Flatten per-image per-class detections into a list of COCO result dicts.

    all_boxes[i][j]: (n, 5) x1,y1,x2,y2,score; all_masks[i][j]: n RLEs; image_ids[i]: COCO
    image id of image i; class_to_coco_id: see ``contiguous_to_coco_ids``.
    """
    if not (len(all_boxes) == len(all_masks) == len(image_ids)):
        raise ValueError('all_boxes (%d), all_masks (%d) and image_ids (%d) must have one entry '
                         'per image' % (len(all_boxes), len(all_masks), len(image_ids)))
    class_map = contiguous_to_coco_ids(class_to_coco_id, classes)
    results = []
    for image_id, boxes, masks in zip(image_ids, all_boxes, all_masks):
        results.extend(image_results(image_id, boxes, masks, class_map))
    return results


def write_coco_results(path, all_boxes, all_masks, image_ids, class_to_coco_id, classes=None):
    """Write per-image detections to a COCO results JSON file (atomically).

    Returns the number of detections written. See ``detections_to_results`` for inputs.
    """
    results = detections_to_results(all_boxes, all_masks, image_ids, class_to_coco_id, classes)
    write_json_atomic(path, results)
    return len(results)


def load_results(results):
    """A list of result dicts from a results JSON path or an already loaded list."""
    if isinstance(results, (str, os.PathLike)):
        if not os.path.isfile(results):
            raise IOError('results file not found: %s (run the tester to write it)' % results)
        with open(results) as f:
            results = json.load(f)
    if not isinstance(results, list):
        raise ValueError('COCO results must be a JSON list of detections, got %s'
                         % type(results).__name__)
    return results


def read_coco_results(results, image_ids, class_to_coco_id, num_classes, classes=None):
    """Turn a COCO results file (or list) back into per-image per-class detections.

    Returns (all_boxes, all_masks) with all_boxes[i][j] (n, 5) float64 x1,y1,x2,y2,score
    (inclusive corners) and all_masks[i][j] a list of n RLEs (counts as bytes, as
    pycocotools.mask.encode returns them), ordered as in the file; entry 0 is empty.
    """
    results = load_results(results)
    class_map = contiguous_to_coco_ids(class_to_coco_id, classes)
    coco_to_class = {cid: j for j, cid in class_map.items()}
    image_index = {int(image_id): i for i, image_id in enumerate(image_ids)}
    rows = [[[] for _ in range(num_classes)] for _ in image_ids]
    masks = [[[] for _ in range(num_classes)] for _ in image_ids]
    for det in results:
        if det['image_id'] not in image_index:
            raise KeyError('results contain image_id %r that is not in image_ids' % det['image_id'])
        if det['category_id'] not in coco_to_class:
            raise KeyError('results contain category_id %r that has no class index in '
                           'class_to_coco_id' % det['category_id'])
        i, j = image_index[det['image_id']], coco_to_class[det['category_id']]
        x, y, w, h = det['bbox']
        rows[i][j].append([x, y, x + w - 1, y + h - 1, det['score']])
        masks[i][j].append(normalize_rle(det['segmentation'], bytes))
    all_boxes = [[np.array(r, dtype=np.float64).reshape(-1, 5) for r in per_image]  # (n, 5)
                 for per_image in rows]
    return all_boxes, masks
