"""lib.nms: compiled greedy NMS vs a NumPy reference written here."""
import numpy as np
import pytest

from lib.nms import make_nms, nms


def reference_nms(dets, thresh):
    """Greedy NMS, vectorized per kept box; stable descending score order."""
    dets = np.asarray(dets, dtype=np.float64)
    order = list(np.argsort(-dets[:, 4], kind='stable'))
    areas = (dets[:, 2] - dets[:, 0] + 1) * (dets[:, 3] - dets[:, 1] + 1)
    keep = []
    while order:
        i, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(int(i))
        w = np.minimum(dets[i, 2], dets[rest, 2]) - np.maximum(dets[i, 0], dets[rest, 0]) + 1
        h = np.minimum(dets[i, 3], dets[rest, 3]) - np.maximum(dets[i, 1], dets[rest, 1]) + 1
        inter = np.where((w > 0) & (h > 0), w * h, 0.0)
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = list(rest[iou <= thresh])
    return keep


def random_dets(rng, n, size=200.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 3, (n, 2))
    return np.hstack([xy, xy + wh, rng.uniform(0, 1, (n, 1))])


@pytest.mark.parametrize('thresh', [0.0, 0.3, 0.5, 0.7, 1.0])
def test_random_matches_reference(thresh):
    rng = np.random.RandomState(int(thresh * 10))
    dets = random_dets(rng, 300)
    keep = nms(dets, thresh)
    assert keep == reference_nms(dets, thresh)
    assert isinstance(keep, list) and all(isinstance(k, int) for k in keep)
    scores = dets[keep, 4]
    assert (np.diff(scores) <= 0).all()


def test_float32_input_and_rounded_scores_with_ties(test_seed):
    rng = np.random.RandomState(test_seed + 7)
    dets = random_dets(rng, 200).astype(np.float32)
    dets[:, 4] = np.round(dets[:, 4], 1)  # many equal scores
    assert nms(dets, 0.4) == reference_nms(dets.astype(np.float64), 0.4)


@pytest.mark.parametrize('max_keep', [1, 5, 40, 10000])
def test_max_keep_gives_the_first_kept_boxes(max_keep, test_seed):
    rng = np.random.RandomState(test_seed + 3)
    dets = random_dets(rng, 400)
    dets[:, 4] = np.round(dets[:, 4], 1)  # ties
    full = reference_nms(dets, 0.5)
    assert len(full) > 40, 'test setup: more boxes kept than max_keep'
    assert nms(dets, 0.5, max_keep) == full[:max_keep]
    with pytest.raises(ValueError, match='max_keep must be >= 1'):
        nms(dets, 0.5, 0)


def test_identical_boxes_keep_first_of_ties():
    dets = np.array([[10, 10, 50, 50, 0.5]] * 4 + [[10, 10, 50, 50, 0.9]])
    assert nms(dets, 0.5) == [4]
    dets[:, 4] = 0.5
    assert nms(dets, 0.5) == [0]
    assert nms(dets, 1.0) == [0, 1, 2, 3, 4]  # IoU 1 is not > 1


def test_threshold_is_strict_hand_computed():
    # IoU of these two 10x10 boxes is 50/150 = 1/3.
    dets = np.array([[0, 0, 9, 9, 0.9], [5, 0, 14, 9, 0.8]])
    assert nms(dets, 0.3) == [0]
    assert nms(dets, 0.34) == [0, 1]


def test_zero_area_boxes_are_never_suppressed_and_never_suppress():
    dets = np.array([[5, 5, 4, 9, 0.9], [5, 5, 4, 9, 0.8], [0, 0, 20, 20, 0.7],
                     [0, 0, 20, 20, 0.6]])
    assert nms(dets, 0.3) == [0, 1, 2]
    assert nms(dets, 0.3) == reference_nms(dets, 0.3)


def test_empty_and_bad_input():
    assert nms(np.zeros((0, 5)), 0.3) == []
    assert nms([], 0.3) == []
    assert make_nms(None)(np.zeros((0, 5)), 0.3) == []
    with pytest.raises(ValueError, match='dets must have shape'):
        nms(np.zeros((3, 4)), 0.3)
    with pytest.raises(ValueError, match='NaN'):
        nms(np.array([[0, 0, 1, 1, np.nan]]), 0.3)


def test_make_nms_falls_back_to_cpu(test_seed):
    rng = np.random.RandomState(test_seed + 11)
    dets = random_dets(rng, 50)
    fn = make_nms(device_id=None)
    assert fn(dets, 0.3) == reference_nms(dets, 0.3)
