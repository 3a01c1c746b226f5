"""COCO results files: writing, pycocotools loadRes, reading back."""
import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest

from eval_synthetic import CLASS_TO_COCO_ID, gt_as_detections, synthetic_gt
from lib.eval.results import (contiguous_to_coco_ids, detections_to_results, read_coco_results,
                              write_coco_results)


def as_bytes(counts):
    return counts.encode('ascii') if isinstance(counts, str) else counts


def scored_detections(coco, seed=0):
    """GT as detections with distinct random scores."""
    image_ids, all_boxes, all_masks = gt_as_detections(coco)
    rng = np.random.RandomState(seed)
    for per_image in all_boxes:
        for boxes in per_image[1:]:
            boxes[:, 4] = rng.uniform(0.05, 1.0, size=boxes.shape[0])
    return image_ids, all_boxes, all_masks


def test_write_file_follows_coco_conventions(tmp_path):
    coco = synthetic_gt()
    image_ids, all_boxes, all_masks = scored_detections(coco)
    path = str(tmp_path / 'out' / 'detections.json')
    count = write_coco_results(path, all_boxes, all_masks, image_ids, CLASS_TO_COCO_ID)
    assert count == len(coco.getAnnIds())
    assert os.listdir(str(tmp_path / 'out')) == ['detections.json']  # no temporary left over
    with open(path) as f:
        results = json.load(f)
    by_key = {(r['image_id'], r['category_id'], tuple(r['bbox'])): r for r in results}
    for ann in coco.loadAnns(coco.getAnnIds()):
        # GT bbox is [x, y, w, h] from the mask; the written one must be identical.
        r = by_key[(ann['image_id'], ann['category_id'], tuple(ann['bbox']))]
        assert isinstance(r['segmentation']['counts'], str)
        assert r['segmentation']['counts'] == ann['segmentation']['counts']
        assert 0.05 <= r['score'] <= 1.0


def test_bbox_width_is_inclusive():
    boxes = [np.zeros((0, 5)), np.array([[3, 4, 10, 6, 0.5]], np.float32)]
    rle = mask_util.encode(np.asfortranarray(np.ones((8, 12), np.uint8)))
    results = detections_to_results([boxes], [[[], [rle]]], [7], [0, 42])
    assert results[0]['bbox'] == [3.0, 4.0, 8.0, 3.0]
    assert results[0]['category_id'] == 42 and results[0]['image_id'] == 7


def test_results_load_in_pycocotools_and_read_back(tmp_path):
    coco = synthetic_gt()
    image_ids, all_boxes, all_masks = scored_detections(coco, seed=1)
    path = str(tmp_path / 'detections.json')
    write_coco_results(path, all_boxes, all_masks, image_ids, CLASS_TO_COCO_ID)
    coco_dt = coco.loadRes(path)
    assert len(coco_dt.getAnnIds()) == len(coco.getAnnIds())
    for ann in coco_dt.loadAnns(coco_dt.getAnnIds()):  # loadRes took its box branch
        assert ann['area'] == pytest.approx(ann['bbox'][2] * ann['bbox'][3])

    boxes_back, masks_back = read_coco_results(path, image_ids, CLASS_TO_COCO_ID, num_classes=4)
    for i in range(len(image_ids)):
        assert boxes_back[i][0].shape == (0, 5) and masks_back[i][0] == []
        for j in range(1, 4):
            np.testing.assert_allclose(boxes_back[i][j], all_boxes[i][j], rtol=0, atol=1e-6)
            # Read back as bytes, as pycocotools.mask.encode returns them.
            assert [m['counts'] for m in masks_back[i][j]] == \
                [as_bytes(m['counts']) for m in all_masks[i][j]]
            for back, orig in zip(masks_back[i][j], all_masks[i][j]):
                assert (mask_util.decode(back) == mask_util.decode(orig)).all()


def test_class_mappings():
    assert contiguous_to_coco_ids([0, 5, 9]) == {1: 5, 2: 9}
    assert contiguous_to_coco_ids({1: 5, 2: 9}) == {1: 5, 2: 9}
    assert contiguous_to_coco_ids({'cat': 9, 'dog': 5}, ['__background__', 'dog', 'cat']) == \
        {1: 5, 2: 9}
    with pytest.raises(ValueError, match='classes'):
        contiguous_to_coco_ids({'cat': 9})


def test_bad_inputs_give_clear_errors(tmp_path):
    rle = mask_util.encode(np.asfortranarray(np.ones((4, 4), np.uint8)))
    boxes = [np.zeros((0, 5)), np.array([[0, 0, 3, 3, 0.9]])]
    with pytest.raises(ValueError, match='masks'):
        detections_to_results([boxes], [[[], [rle, rle]]], [1], [0, 1])
    with pytest.raises(KeyError, match='class index 1'):
        detections_to_results([boxes], [[[], [rle]]], [1], {2: 3})
    with pytest.raises(ValueError, match=r'\(n, 5\)'):
        detections_to_results([[None, np.zeros((1, 4))]], [[[], [rle]]], [1], [0, 1])
    with pytest.raises(IOError, match='not found'):
        read_coco_results(str(tmp_path / 'missing.json'), [1], [0, 1], 2)
