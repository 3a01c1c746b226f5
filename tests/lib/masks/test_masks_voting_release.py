"""Release mask voting (lib.masks.voting_release) against the NumPy/cv2 reference of the
release's algorithm and hand-computed cases."""
import numpy as np
import pytest

from lib.masks.mask_voting_cython import vote_region_soft
from lib.masks.voting_numpy import vote_region_soft_numpy
from lib.masks.voting_release import (ReleaseVoting, kept_per_class, release_mask_voting,
                                      soft_masks_to_crops, voter_weights)
from tests.lib.masks.release_voting_reference import reference_release_voting


def random_case(rng, n=40, num_classes=4):
    """masks (n, 21, 21), boxes (n, 4) partly outside a 60x80 image, scores (n, C)."""
    corner = rng.uniform(0, 50, (n, 2))
    boxes = np.hstack([corner, corner + rng.uniform(5, 40, (n, 2))]).astype(np.float32) - 5
    scores = rng.dirichlet(np.ones(num_classes), n).astype(np.float32)
    masks = rng.uniform(size=(n, 21, 21)).astype(np.float32)
    return masks, boxes, scores


@pytest.mark.parametrize('backend', ['cython', 'numpy'])
def test_release_voting_equals_reference_bits(backend):
    rng = np.random.RandomState(0)
    detections = 0
    for _ in range(12):
        masks, boxes, scores = random_case(rng)
        settings = ReleaseVoting(4, max_per_image=10, backend=backend)
        dets, soft = release_mask_voting(masks, boxes, scores, (60, 80), settings)
        ref_dets, ref_soft = reference_release_voting(masks, boxes, scores, 4, 10, 60, 80)
        for j in range(1, 4):
            np.testing.assert_array_equal(dets[j], ref_dets[j])
            np.testing.assert_array_equal(soft[j], ref_soft[j])
            detections += len(dets[j])
    assert detections >= 100


def test_soft_vote_cython_equals_numpy():
    rng = np.random.RandomState(1)
    masks = rng.uniform(size=(6, 21, 17)).astype(np.float32)
    extents = np.array([[0, 0, 30, 20], [5, 3, 40, 30], [-4, -5, 12, 8], [50, 40, 79, 59],
                        [20, 10, 21, 11], [2, 2, 70, 50]], np.int32)
    members = np.array([0, 1, 2, 4, 5], np.intp)
    weights = voter_weights(rng.uniform(0.1, 1, 5))
    for binarize in (True, False):
        a = vote_region_soft(masks, extents, members, weights, 0, 0, 79, 59, 0.4, binarize)
        b = vote_region_soft_numpy(masks, extents, members, weights, 0, 0, 79, 59, 0.4, binarize)
        assert a.dtype == np.float64 and a.shape == (60, 80)
        np.testing.assert_array_equal(a, b)
        assert 0 < a.max() <= 1.0 + 1e-6


def test_voter_weights_are_scores_over_their_sum():
    weights = voter_weights(np.float32([0.9, 0.3, 0.3]))
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, [0.6, 0.2, 0.2], rtol=1e-6)
    scores = np.random.RandomState(2).uniform(0, 1, 25).astype(np.float32)
    np.testing.assert_array_equal(voter_weights(scores), scores / sum(scores))


def two_roi_case(kept_score, voter_score):
    """A kept ROI [10, 10, 29, 29] and a voter [14, 10, 33, 29] (IoU 0.67) in a 40x50 image,
    both with all-ones masks; the voter reaches 4 columns past the kept box."""
    boxes = np.array([[10, 10, 29, 29], [14, 10, 33, 29]], np.float32)
    scores = np.array([[0, kept_score], [0, voter_score]], np.float32)
    return np.ones((2, 21, 21), np.float32), boxes, scores


def test_vote_extends_past_the_kept_box_and_normalises_weights():
    masks, boxes, scores = two_roi_case(0.6, 0.5)  # the voter alone: 0.5 / 1.1 = 0.4545 >= 0.4
    dets, soft = release_mask_voting(masks, boxes, scores, (40, 50), ReleaseVoting(2, nms_thresh=0.9))
    # NMS at 0.9 keeps both ROIs; the voter's own vote covers columns 10..33 too.
    np.testing.assert_array_equal(dets[1][:, :4], [[10, 10, 33, 29], [10, 10, 33, 29]])
    np.testing.assert_array_equal(dets[1][:, 4], np.float32([0.6, 0.5]))
    # soft mask: columns 10..13 hold only the kept ROI's weight 0.6 / 1.1, 30..33 the voter's
    left, right = np.float32(0.6) / np.float32(1.1), np.float32(0.5) / np.float32(1.1)
    np.testing.assert_allclose(soft[1][0][:, 0], left, rtol=1e-6)
    np.testing.assert_allclose(soft[1][0][:, -1], right, rtol=1e-6)
    np.testing.assert_allclose(soft[1][0][:, 10], 1.0, rtol=1e-6)


def test_voters_below_the_score_threshold_still_vote():
    # kept ROI scores 0.0012 (just over the 1e-3 floor), the voter 0.0009 (under it): weights
    # 0.571 and 0.429, so the voter's columns 30..33 still pass 0.4
    masks, boxes, scores = two_roi_case(0.0012, 0.0009)
    dets, _ = release_mask_voting(masks, boxes, scores, (40, 50), ReleaseVoting(2))
    np.testing.assert_array_equal(dets[1], np.float32([[10, 10, 33, 29, 0.0012]]))
    # a voter weight under 0.4 of the total leaves the kept box as it is
    masks, boxes, scores = two_roi_case(0.0030, 0.0009)
    dets, _ = release_mask_voting(masks, boxes, scores, (40, 50), ReleaseVoting(2))
    np.testing.assert_array_equal(dets[1][:, :4], [[10, 10, 29, 29]])


def test_empty_vote_reports_the_centre_pixel():
    masks, boxes, scores = two_roi_case(0.6, 0.5)
    masks[:] = 0.3  # below BINARY_THRESH everywhere: no pixel votes
    dets, soft = release_mask_voting(masks, boxes, scores, (41, 50), ReleaseVoting(2))
    np.testing.assert_array_equal(dets[1][:, :4], [[25, 20, 25, 20]])  # (W // 2, H // 2)
    np.testing.assert_array_equal(soft[1], np.zeros((1, 21, 21), np.float32))
    dets, crops = soft_masks_to_crops(dets[1], soft[1], 41, 50, 0.4)
    assert crops[0].shape == (1, 1) and crops[0].sum() == 0


def test_global_threshold_keeps_ties_and_caps_each_class():
    # class 1: three separate boxes scoring 0.5; class 2: one box scoring 0.9
    boxes = np.array([[0, 0, 9, 9], [20, 0, 29, 9], [40, 0, 49, 9], [0, 20, 9, 29]], np.float32)
    scores = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.1, 0.0, 0.9]],
                      np.float32)
    kept = kept_per_class(boxes, scores, ReleaseVoting(3, max_per_image=2))
    # per class the first 2 after NMS; threshold = 2nd best over classes = 0.5; ties stay
    assert len(kept[1]) == 2 and set(kept[1]) <= {0, 1, 2}
    assert list(kept[2]) == [3]
    kept = kept_per_class(boxes, scores, ReleaseVoting(3, max_per_image=3))
    assert sorted(kept[1]) == [0, 1, 2] and list(kept[2]) == [3]
    kept = kept_per_class(boxes, scores, ReleaseVoting(3, max_per_image=1))
    assert len(kept[1]) == 0 and list(kept[2]) == [3]  # threshold 0.9
    # the floor: nothing under score_floor is kept
    kept = kept_per_class(boxes, scores * 1e-3, ReleaseVoting(3, max_per_image=100))
    assert len(kept[1]) == 0 and len(kept[2]) == 0


def test_soft_masks_to_crops_resizes_to_the_clipped_box_and_thresholds():
    soft = np.zeros((1, 21, 21), np.float32)
    soft[0, :, 11:] = 0.9  # right half of the mask
    dets, crops = soft_masks_to_crops(np.array([[10, 5, 29, 44, 0.7]]), soft, 40, 30, 0.4)
    np.testing.assert_array_equal(dets, np.float32([[10, 5, 29, 39, 0.7]]))  # y2 clipped
    assert crops[0].shape == (35, 20)
    # the 21 -> 20 columns resize: columns >= 11 are 0.9 and column 10 mixes both halves
    assert crops[0][:, 11:].all() and not crops[0][:, :10].any()
    with pytest.raises(ValueError, match='fractional'):
        soft_masks_to_crops(np.array([[10.5, 5, 29, 30, 0.7]]), soft, 40, 30, 0.4)
