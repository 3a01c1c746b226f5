"""COCO metrics with pycocotools COCOeval for iouType "segm" and "bbox".

The results file written by ``lib.eval.results`` holds both a mask and a box per detection.
pycocotools' ``loadRes`` takes the box branch whenever a box is present and then sets every
detection's area to its box area, which would misfile detections in the small / medium /
large breakdown of the mask evaluation. So each IoU type is evaluated on its own copy of the
results: "segm" without the boxes (area = mask area, as for a masks-only file) and "bbox"
without the masks (area = box area, as for a boxes-only file).
"""
import copy
import os
import warnings

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .results import load_results

STAT_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl',
              'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl')
IOU_TYPES = ('segm', 'bbox')


def load_coco_gt(coco_gt):
    """A pycocotools COCO object from a COCO object or an annotation JSON path."""
    if isinstance(coco_gt, COCO):
        return coco_gt
    if isinstance(coco_gt, (str, os.PathLike)):
        if not os.path.isfile(coco_gt):
            raise IOError('COCO annotation file not found: %s (check the dataset layout in '
                          'data/README.md)' % coco_gt)
        return COCO(str(coco_gt))
    raise TypeError('coco_gt must be a pycocotools COCO object or an annotation file path, '
                    'got %s' % type(coco_gt).__name__)


def results_for_iou_type(results, iou_type):
    """Deep copies of the result dicts keeping only what ``iou_type`` needs (see module doc)."""
    drop = 'bbox' if iou_type == 'segm' else 'segmentation'
    kept = []
    for det in results:
        det = copy.deepcopy(det)
        det.pop(drop, None)
        kept.append(det)
    return kept


def stats_dict(stats):
    """{name: float} for the 12 COCOeval summary numbers."""
    return {name: float(value) for name, value in zip(STAT_NAMES, stats)}


def evaluate_iou_type(coco_gt, results, iou_type, image_ids=None):
    """Run COCOeval (evaluate, accumulate, summarize = printed table) for one IoU type.

    Returns the COCOeval object; its ``stats`` holds the 12 numbers of STAT_NAMES.
    """
    coco_dt = coco_gt.loadRes(results_for_iou_type(results, iou_type))
    coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
    if image_ids is not None:
        coco_eval.params.imgIds = sorted(int(i) for i in image_ids)
    coco_eval.evaluate()
    coco_eval.accumulate()
    print('COCO %s evaluation:' % iou_type)
    coco_eval.summarize()
    return coco_eval


def run_coco_eval(coco_gt, results, iou_types=IOU_TYPES, image_ids=None):
    """COCO metrics of a results file against ground truth.

    coco_gt: pycocotools COCO object or annotation file path. results: results JSON path or
    list of result dicts. image_ids: evaluate only these images (default: all of coco_gt).
    Returns {iou_type: {'AP': .., 'AP50': .., ..., 'ARl': ..}} (fractions; pycocotools gives
    -1 for a breakdown without ground truth). With no detections at all pycocotools cannot
    load the results, so every stat is 0 and a warning says so.
    """
    coco_gt = load_coco_gt(coco_gt)
    results = load_results(results)
    for iou_type in iou_types:
        if iou_type not in IOU_TYPES:
            raise ValueError('iou_type must be one of %s, got %r' % (IOU_TYPES, iou_type))
    if image_ids is not None:
        wanted = set(int(i) for i in image_ids)
        results = [det for det in results if det['image_id'] in wanted]
    unknown = set(det['image_id'] for det in results) - set(coco_gt.getImgIds())
    if unknown:
        raise ValueError('results hold image ids %s that are not in the ground truth: evaluate '
                         'against the annotation file the detections were made on'
                         % sorted(unknown)[:5])
    if not results:
        warnings.warn('COCO evaluation: the results contain no detections; every metric is 0')
        return {iou_type: stats_dict(np.zeros(len(STAT_NAMES))) for iou_type in iou_types}
    return {iou_type: stats_dict(evaluate_iou_type(coco_gt, results, iou_type, image_ids).stats)
            for iou_type in iou_types}
