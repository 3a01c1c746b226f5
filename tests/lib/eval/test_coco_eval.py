"""COCOeval wrapper: perfect results, empty results, mask areas for the segm breakdown."""
import json

import numpy as np
import pytest

from eval_synthetic import (CLASS_TO_COCO_ID, box_mask, build_coco, encode, gt_as_detections,
                            synthetic_gt)
from lib.eval.coco_eval import STAT_NAMES, run_coco_eval
from lib.eval.results import write_coco_results
from lib.eval.sds_eval import sds_eval


def test_ground_truth_as_results_scores_one(tmp_path):
    coco = synthetic_gt()
    image_ids, all_boxes, all_masks = gt_as_detections(coco, score=1.0)
    path = str(tmp_path / 'detections.json')
    write_coco_results(path, all_boxes, all_masks, image_ids, CLASS_TO_COCO_ID)
    metrics = run_coco_eval(coco, path)
    assert set(metrics) == {'segm', 'bbox'}
    for iou_type in ('segm', 'bbox'):
        assert list(metrics[iou_type]) == list(STAT_NAMES)
        assert metrics[iou_type]['AP'] == pytest.approx(1.0)
        assert metrics[iou_type]['AP50'] == pytest.approx(1.0)
        assert metrics[iou_type]['AR100'] == pytest.approx(1.0)
    sds = sds_eval(coco, path)
    assert sds['mAP^r@0.5'] == pytest.approx(1.0) and sds['mAP^r@0.7'] == pytest.approx(1.0)


def test_annotation_file_path_is_accepted(tmp_path):
    coco = synthetic_gt()
    gt_path = tmp_path / 'gt.json'
    gt_path.write_text(json.dumps(coco.dataset))
    image_ids, all_boxes, all_masks = gt_as_detections(coco)
    results_path = str(tmp_path / 'detections.json')
    write_coco_results(results_path, all_boxes, all_masks, image_ids, CLASS_TO_COCO_ID)
    metrics = run_coco_eval(str(gt_path), results_path, iou_types=['segm'])
    assert list(metrics) == ['segm'] and metrics['segm']['AP'] == pytest.approx(1.0)


def test_empty_results_give_zeros_with_warning(tmp_path):
    path = tmp_path / 'detections.json'
    path.write_text('[]')
    with pytest.warns(UserWarning, match='no detections'):
        metrics = run_coco_eval(synthetic_gt(), str(path))
    for iou_type in ('segm', 'bbox'):
        assert metrics[iou_type] == {name: 0.0 for name in STAT_NAMES}


def test_segm_breakdown_uses_mask_area():
    # One small GT square (10x10 = 100 px, "small" < 32^2) found exactly (score .5), and a
    # false positive ranked first (score .9) whose mask is a thin L (small area, 79 px)
    # inside a 40x40 box (1600 px, "medium"), away from the GT.
    # segm: the FP's area is its mask area -> small -> counted in APs: FP, TP -> precision
    #       1/2 at recall 1 at every IoU -> APs = AP = 0.5.
    # bbox: the FP's area is its box area -> medium -> ignored in APs (unmatched, outside
    #       the range) -> APs = 1.0; AP (all areas) = 0.5.
    height, width = 60, 100
    gt_mask = box_mask(height, width, 0, 0, 9, 9)
    coco = build_coco([(1, height, width)], [(1, 1, gt_mask, 0)], [(1, 'thing')])
    l_shape = box_mask(height, width, 15, 50, 54, 50) | box_mask(height, width, 54, 50, 54, 89)
    results = []
    for mask, score in ((gt_mask, 0.5), (l_shape, 0.9)):
        rle = encode(mask)
        ys, xs = np.nonzero(mask)
        results.append({'image_id': 1, 'category_id': 1, 'score': score,
                        'segmentation': {'size': rle['size'],
                                         'counts': rle['counts'].decode('ascii')},
                        'bbox': [float(xs.min()), float(ys.min()),
                                 float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)]})
    metrics = run_coco_eval(coco, results)
    assert metrics['segm']['APs'] == pytest.approx(0.5)
    assert metrics['segm']['AP'] == pytest.approx(0.5)
    assert metrics['bbox']['APs'] == pytest.approx(1.0)
    assert metrics['bbox']['AP'] == pytest.approx(0.5)


def test_bad_inputs_give_clear_errors(tmp_path):
    coco = synthetic_gt()
    with pytest.raises(IOError, match='annotation file not found'):
        run_coco_eval(str(tmp_path / 'missing.json'), [])
    with pytest.raises(ValueError, match='iou_type'):
        run_coco_eval(coco, [], iou_types=['keypoints'])
    bad = [{'image_id': 999, 'category_id': 3, 'score': 1.0, 'bbox': [0, 0, 1, 1]}]
    with pytest.raises(ValueError, match='image ids'):
        run_coco_eval(coco, bad)
