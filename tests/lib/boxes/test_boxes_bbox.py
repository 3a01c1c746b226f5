"""lib.boxes: overlaps vs a NumPy reference, transforms vs hand-computed values."""
import numpy as np
import pytest

from lib.boxes import (bbox_overlaps, bbox_pred, bbox_transform, clip_boxes,
                       filter_small_boxes)


def reference_overlaps(boxes, query):
    """Pairwise IoU with "+1" areas, written with explicit Python loops."""
    out = np.zeros((len(boxes), len(query)))
    for n, b in enumerate(boxes):
        for k, q in enumerate(query):
            iw = min(b[2], q[2]) - max(b[0], q[0]) + 1
            ih = min(b[3], q[3]) - max(b[1], q[1]) + 1
            if iw > 0 and ih > 0:
                inter = iw * ih
                union = ((b[2] - b[0] + 1) * (b[3] - b[1] + 1)
                         + (q[2] - q[0] + 1) * (q[3] - q[1] + 1) - inter)
                out[n, k] = inter / union if union > 0 else 0.0
    return out


def random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(0, size / 2, (n, 2))
    return np.hstack([xy, xy + wh])


def test_overlaps_random_matches_reference(test_seed):
    rng = np.random.RandomState(test_seed)
    boxes, query = random_boxes(rng, 40), random_boxes(rng, 17)
    np.testing.assert_allclose(bbox_overlaps(boxes, query), reference_overlaps(boxes, query),
                               rtol=1e-12, atol=0)


def test_overlaps_float32_and_int_inputs(test_seed):
    rng = np.random.RandomState(test_seed + 1)
    boxes = np.round(random_boxes(rng, 12))
    query = np.round(random_boxes(rng, 9))
    expected = reference_overlaps(boxes, query)
    np.testing.assert_allclose(bbox_overlaps(boxes.astype(np.float32), query.astype(np.float32)),
                               expected, rtol=1e-12)
    np.testing.assert_allclose(bbox_overlaps(boxes.astype(np.int32), query.astype(np.int64)),
                               expected, rtol=1e-12)


def test_overlaps_identical_and_hand_computed():
    boxes = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], dtype=np.float64)
    ov = bbox_overlaps(boxes, boxes)
    # 10x10 boxes overlapping in a 5x10 strip: 50 / (100 + 100 - 50)
    np.testing.assert_allclose(ov, [[1.0, 50 / 150.], [50 / 150., 1.0]])


def test_overlaps_zero_area_boxes():
    zero = np.array([[5, 5, 4, 9], [5, 5, 9, 4], [5, 5, 4, 4]], dtype=np.float64)
    normal = np.array([[0, 0, 20, 20]], dtype=np.float64)
    ov = bbox_overlaps(np.vstack([zero, normal]), np.vstack([zero, normal]))
    expected = np.zeros((4, 4))
    expected[3, 3] = 1.0
    np.testing.assert_array_equal(ov, expected)
    assert np.isfinite(ov).all()


@pytest.mark.parametrize('n,k', [(0, 3), (3, 0), (0, 0)])
def test_overlaps_empty_inputs(n, k, test_seed):
    rng = np.random.RandomState(test_seed + 2)
    ov = bbox_overlaps(random_boxes(rng, n), random_boxes(rng, k))
    assert ov.shape == (n, k)


def test_overlaps_bad_shape_message():
    with pytest.raises(ValueError, match='query_boxes must have shape'):
        bbox_overlaps(np.zeros((2, 4)), np.zeros((2, 5)))


def test_bbox_transform_hand_computed():
    ex = np.array([[0, 0, 9, 19]], dtype=np.float64)     # w=10, h=20, center (4.5, 9.5)
    gt = np.array([[5, 10, 24, 29]], dtype=np.float64)   # w=20, h=20, center (14.5, 19.5)
    np.testing.assert_allclose(bbox_transform(ex, gt), [[1.0, 0.5, np.log(2.0), 0.0]])


def test_bbox_pred_hand_computed_and_round_trip(test_seed):
    ex = np.array([[0, 0, 9, 19]], dtype=np.float64)
    deltas = np.array([[1.0, 0.5, np.log(2.0), 0.0, 0, 0, 0, 0]])   # two classes
    pred = bbox_pred(ex, deltas)
    np.testing.assert_allclose(pred, [[5, 10, 24, 29, 0, 0, 9, 19]], atol=1e-12)

    rng = np.random.RandomState(test_seed + 3)
    ex = random_boxes(rng, 50) + np.array([0, 0, 2, 2])
    gt = random_boxes(rng, 50) + np.array([0, 0, 2, 2])
    np.testing.assert_allclose(bbox_pred(ex, bbox_transform(ex, gt)), gt, atol=1e-9)


def test_bbox_pred_clips_huge_scales_and_handles_empty():
    pred = bbox_pred(np.array([[0, 0, 15, 15]]), np.array([[0, 0, 1e4, -1e4]]))
    assert np.isfinite(pred).all()
    width = pred[0, 2] - pred[0, 0] + 1
    np.testing.assert_allclose(width, 16 * 1000 / 16.0)
    assert bbox_pred(np.zeros((0, 4)), np.zeros((0, 8))).shape == (0, 8)


def test_bbox_transform_rejects_degenerate_rois():
    with pytest.raises(ValueError, match='ex_rois contain a box'):
        bbox_transform(np.array([[5, 5, 3, 9]]), np.array([[0, 0, 9, 9]]))


def test_clip_boxes_and_filter_small():
    boxes = np.array([[-5, -3, 120, 40, 10, 10, 20, 300]], dtype=np.float32)
    clipped = clip_boxes(boxes, (100, 110))
    np.testing.assert_array_equal(clipped, [[0, 0, 109, 40, 10, 10, 20, 99]])
    assert clipped.dtype == np.float32
    assert boxes[0, 0] == -5  # input unchanged
    strided = np.asfortranarray(np.vstack([boxes, boxes]))[:, ::2]  # columns 0, 2, 4, 6
    np.testing.assert_array_equal(clip_boxes(strided, (100, 110)), [[0, 99, 10, 20]] * 2)
    with_nan = clip_boxes(np.array([[np.nan, -np.inf, np.inf, 5.0]]), (100, 110))
    np.testing.assert_array_equal(with_nan, [[np.nan, 0, 109, 5]])
    small = np.array([[0, 0, 9, 9], [0, 0, 8, 20], [3, 3, 30, 12]])
    np.testing.assert_array_equal(filter_small_boxes(small, 10), [0, 2])
