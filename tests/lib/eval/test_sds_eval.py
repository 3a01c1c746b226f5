"""SDS mAP^r on hand-computable cases and against pycocotools COCOeval."""
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from eval_synthetic import box_mask, build_coco, encode, gt_as_detections, synthetic_gt
from lib.eval.results import detections_to_results
from lib.eval.sds_eval import sds_eval, voc07_ap

H, W = 20, 40


def det(image_id, category_id, mask, score):
    """One COCO result dict (only what the SDS evaluation reads, plus the box)."""
    rle = encode(mask)
    ys, xs = np.nonzero(mask)
    return {'image_id': image_id, 'category_id': category_id, 'score': score,
            'segmentation': {'size': rle['size'], 'counts': rle['counts'].decode('ascii')},
            'bbox': [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)]}


def square(x):
    """10x10 square at rows 0..9, columns x..x+9 of an H x W image."""
    return box_mask(H, W, 0, x, 9, x + 9)


def one_class_gt(masks_per_image, crowd_per_image=None):
    """GT of class 1 ('thing'): masks_per_image {image_id: [masks]}, optional crowd masks."""
    anns = [(i, 1, m, 0) for i, masks in masks_per_image.items() for m in masks]
    anns += [(i, 1, m, 1) for i, masks in (crowd_per_image or {}).items() for m in masks]
    return build_coco([(i, H, W) for i in sorted(masks_per_image)], anns, [(1, 'thing')])


def test_voc07_ap_by_hand():
    # Ranked TP, FP, TP with 2 GT: recall .5 .5 1, precision 1 .5 2/3.
    # r = 0 .. 0.5 (6 levels): max precision at recall >= r is 1; r = 0.6 .. 1 (5): 2/3.
    assert voc07_ap([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]) == pytest.approx((6 + 5 * 2 / 3) / 11)
    assert voc07_ap([], []) == 0.0


def test_perfect_detections_give_one():
    coco = synthetic_gt()
    image_ids, boxes, masks = gt_as_detections(coco, score=0.9)
    results = detections_to_results(boxes, masks, image_ids, {1: 3, 2: 7, 3: 11})
    out = sds_eval(coco, results, thresholds=[0.5, 0.7, 0.9])
    assert out['num_classes'] == 3
    for key in ('mAP^r@0.5', 'mAP^r@0.7', 'mAP^r@0.9'):
        assert out[key] == pytest.approx(1.0)
    for scores in out['per_class'].values():
        assert scores['recall@0.5'] == scores['recall@0.9'] == pytest.approx(1.0)


def test_recall_counts_found_instances_per_threshold():
    # One GT square; a detection shifted by 3 columns: mask IoU 70/130 = 0.54 -> found at
    # 0.5, missed at 0.7 (recall 0 there, AP 0).
    coco = one_class_gt({1: [square(10)]})
    out = sds_eval(coco, [det(1, 1, square(13), 0.9)])
    scores = out['per_class']['thing']
    assert scores['recall@0.5'] == pytest.approx(1.0) and scores['mAP^r@0.5'] == pytest.approx(1.0)
    assert scores['recall@0.7'] == 0.0 and scores['mAP^r@0.7'] == 0.0


def test_false_positive_ranked_first():
    # Three GT squares (two in image 1, one in image 2); detections ranked FP, TP, TP and
    # one GT never found. Cumulative: precision 0, 1/2, 2/3; recall 0, 1/3, 2/3.
    # 11-point: r = 0, .1, ..., .6 (7 levels) -> max precision at recall >= r is 2/3;
    # r = .7 .. 1 (4 levels) -> no detection reaches that recall -> 0. AP = 7 * (2/3) / 11.
    coco = one_class_gt({1: [square(0), square(20)], 2: [square(5)]})
    results = [det(2, 1, square(28), 0.9),  # far from image 2's square: FP
               det(1, 1, square(0), 0.8),
               det(2, 1, square(5), 0.7)]
    out = sds_eval(coco, results)
    expected = 7 * (2 / 3) / 11
    assert out['mAP^r@0.5'] == pytest.approx(expected)
    assert out['per_class']['thing']['mAP^r@0.7'] == pytest.approx(expected)
    assert out['per_class']['thing']['recall@0.5'] == pytest.approx(2 / 3)  # 1 of 3 never found


def test_file_order_does_not_matter_only_scores():
    coco = one_class_gt({1: [square(0), square(20)], 2: [square(5)]})
    results = [det(1, 1, square(0), 0.8), det(2, 1, square(5), 0.7), det(2, 1, square(28), 0.9)]
    assert sds_eval(coco, results)['mAP^r@0.5'] == pytest.approx(7 * (2 / 3) / 11)


def test_duplicate_detection_is_false_positive():
    # GT squares A (x=0) and B (x=20). Detections A (.9), A again (.8), B (.7):
    # TP, FP, TP -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = (6 + 5 * 2/3) / 11.
    coco = one_class_gt({1: [square(0), square(20)]})
    results = [det(1, 1, square(0), 0.9), det(1, 1, square(0), 0.8), det(1, 1, square(20), 0.7)]
    assert sds_eval(coco, results)['mAP^r@0.5'] == pytest.approx((6 + 5 * 2 / 3) / 11)


def test_duplicate_does_not_fall_back_to_another_instance():
    # VOC/SDS rule: a detection goes to its best-IoU instance. GT A = columns 0..9 and
    # B = columns 2..11 overlap. The second detection (columns 1..9, 90 px) has IoU 0.9 with
    # A (already taken) and 80/110 = 0.73 with B: it is a duplicate (FP), not a match of B.
    # TP then FP, recall 1/2 at both: 6 levels (r <= .5) at precision 1 -> AP = 6/11.
    coco = one_class_gt({1: [square(0), square(2)]})
    results = [det(1, 1, square(0), 0.9), det(1, 1, box_mask(H, W, 0, 1, 9, 9), 0.8)]
    assert sds_eval(coco, results)['mAP^r@0.5'] == pytest.approx(6 / 11)


def test_thresholds_are_mask_iou():
    # Detection covering 60 of the 100 GT pixels and nothing else: IoU 0.6.
    coco = one_class_gt({1: [square(0)]})
    out = sds_eval(coco, [det(1, 1, box_mask(H, W, 0, 0, 9, 5), 0.9)])
    assert out['mAP^r@0.5'] == pytest.approx(1.0)
    assert out['mAP^r@0.7'] == pytest.approx(0.0)


def test_classes_without_ground_truth_are_skipped():
    # 'ghost' has only detections and no GT, 'empty' has neither: both leave the mean alone.
    coco = build_coco([(1, H, W)], [(1, 1, square(0), 0), (1, 1, square(20), 0)],
                      [(1, 'thing'), (2, 'ghost'), (3, 'empty')])
    results = [det(1, 1, square(0), 0.9), det(1, 1, square(28), 0.8),
               det(1, 2, square(20), 0.95)]
    out = sds_eval(coco, results)
    # 'thing': TP, then FP (square(28) has IoU 20/180 with square(20)), recall 1/2 at both
    # -> 6 levels (r <= .5) at precision 1 -> AP 6/11.
    assert out['num_classes'] == 1
    assert set(out['per_class']) == {'thing'}
    assert out['mAP^r@0.5'] == pytest.approx(6 / 11)


def test_crowd_regions_are_ignored():
    # Image 1: a normal instance at x=0 and a crowd region at x=20..39.
    coco = one_class_gt({1: [square(0)]}, crowd_per_image={1: [box_mask(H, W, 0, 20, 19, 39)]})
    on_crowd = det(1, 1, square(25), 0.9)  # inside the crowd region: ignored
    results = [on_crowd, det(1, 1, square(0), 0.8)]
    assert sds_eval(coco, results)['mAP^r@0.5'] == pytest.approx(1.0)
    # A detection mostly outside the crowd (40% inside: 40/100 < 0.5) is a plain FP:
    # FP then TP, recall 0 then 1, precision 0 then 1/2 -> 11 levels at 1/2 -> AP 0.5.
    mostly_out = det(1, 1, box_mask(H, W, 10, 14, 19, 23), 0.95)
    assert sds_eval(coco, [mostly_out] + results)['mAP^r@0.5'] == pytest.approx(0.5)
    # Crowd regions are not ground truth to be found: one normal instance, found -> 1.0.
    assert sds_eval(coco, [det(1, 1, square(0), 0.8)])['mAP^r@0.5'] == pytest.approx(1.0)


def test_no_detections_give_zero():
    coco = one_class_gt({1: [square(0)]})
    out = sds_eval(coco, [])
    assert out['mAP^r@0.5'] == 0.0 and out['num_classes'] == 1


def test_agrees_with_cocoeval_ap50_when_interpolations_coincide():
    # COCO AP50 averages the precision envelope at 101 recall levels, VOC07 at 11 levels.
    # They agree when the envelope is the same constant at every recall level, which holds
    # when all GT are found and no precision before the last detection exceeds the final
    # one. Here class 'a': FP (.9), TP (.8), TP (.7) with 2 GT -> precision 0, 1/2, 2/3,
    # recall 0, 1/2, 1; envelope 2/3 everywhere, AP = 2/3 for both definitions.
    # Class 'b': two GT, both found (AP 1). Both ask IoU >= .5, one area range (all), and at
    # most 100 detections per image (we give at most 3), so the matching is the same too.
    coco = build_coco([(1, H, W), (2, H, W)],
                      [(1, 1, square(0), 0), (2, 1, square(10), 0),
                       (1, 2, square(20), 0), (2, 2, square(25), 0)],
                      [(1, 'a'), (2, 'b')])
    results = [det(1, 1, square(28), 0.9), det(1, 1, square(0), 0.8), det(2, 1, square(10), 0.7),
               det(1, 2, square(20), 0.6), det(2, 2, square(25), 0.5)]
    ours = sds_eval(coco, results, thresholds=[0.5])
    assert ours['per_class']['a']['mAP^r@0.5'] == pytest.approx(2 / 3)
    assert ours['per_class']['b']['mAP^r@0.5'] == pytest.approx(1.0)
    assert ours['mAP^r@0.5'] == pytest.approx((2 / 3 + 1) / 2)

    coco_eval = COCOeval(coco, coco.loadRes([{k: v for k, v in r.items() if k != 'bbox'}
                                             for r in results]), 'segm')
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    # precision is (T iou, R recall, K class, A area, M maxDets); IoU .5, area all, 100 dets.
    precision = coco_eval.eval['precision'][0, :, :, 0, 2]  # (101, K)
    for k, name in enumerate(['a', 'b']):
        assert precision[:, k].mean() == pytest.approx(ours['per_class'][name]['mAP^r@0.5'])
    assert coco_eval.stats[1] == pytest.approx(ours['mAP^r@0.5'])


def test_bad_inputs_give_clear_errors():
    coco = one_class_gt({1: [square(0)]})
    with pytest.raises(ValueError, match='image ids'):
        sds_eval(coco, [det(99, 1, square(0), 0.9)])
    with pytest.raises(ValueError, match='category_id'):
        sds_eval(coco, [det(1, 42, square(0), 0.9)])
    with pytest.raises(ValueError, match='thresholds'):
        sds_eval(coco, [], thresholds=[1.5])
