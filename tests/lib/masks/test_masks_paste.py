"""lib.masks.paste on hand-made cases and against cv2.resize."""
import cv2
import numpy as np

from lib.masks.paste import (box_extent, crop_and_resize_mask, crop_and_resize_masks, paste_mask,
                             resize_bilinear)


def test_resize_bilinear_matches_cv2():
    rng = np.random.RandomState(0)
    mask = rng.uniform(size=(21, 21)).astype(np.float32)
    for out_h, out_w in [(1, 1), (21, 21), (5, 40), (47, 13), (300, 211), (2, 500)]:
        expected = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(resize_bilinear(mask, out_h, out_w), expected, atol=2e-6)


def test_box_extent_rounding_and_min_size():
    ext = box_extent([[0.4, 0.5, 9.5, 9.49], [5.2, 3.0, 1.0, 2.0]])
    np.testing.assert_array_equal(ext, [[0, 1, 10, 9], [5, 3, 5, 3]])


def hand_upsample_2_to_4():
    """Bilinear weights of source pixel 0 / 1 for a 2 -> 4 resize, derived by hand:
    sample positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)."""
    w0 = np.array([1.0, 0.75, 0.25, 0.0])
    return w0, 1.0 - w0


def test_paste_mask_hand_made_diagonal():
    w0, w1 = hand_upsample_2_to_4()
    mask = np.array([[1.0, 0.0], [0.0, 1.0]])
    resized = np.outer(w0, w0) + np.outer(w1, w1)  # (4, 4)
    out = paste_mask(mask, [2.2, 1.0, 4.6, 3.9], im_h=6, im_w=7, binary_thresh=0.5)
    # extent x 2..5, y 1..4
    expected = np.zeros((6, 7), np.uint8)
    expected[1:5, 2:6] = resized >= 0.5
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.uint8 and out.sum() == 8  # two 2x2 blocks on the diagonal


def test_paste_mask_clipped_at_image_border_and_outside():
    mask = np.ones((21, 21), np.float32)
    mask[:, :7] = 0.0  # left third empty
    out = paste_mask(mask, [-10, -5, 10, 15], im_h=8, im_w=30, binary_thresh=0.4)
    expected = np.zeros((8, 30), np.uint8)
    full = cv2.resize(mask, (21, 21)) >= 0.4  # same size: identity
    expected[0:8, 0:11] = full[5:13, 10:21]
    np.testing.assert_array_equal(out, expected)
    assert paste_mask(mask, [40, 40, 50, 50], 8, 30, 0.4).sum() == 0


def test_crop_and_resize_mask_hand_made():
    gt = np.zeros((50, 80), np.uint8)
    gt[10:31, 20:41] = 1  # 21 x 21 square, pixels 20..40, rows 10..30
    np.testing.assert_array_equal(crop_and_resize_mask(gt, [20, 10, 40, 30]), np.ones((21, 21)))
    # ROI 42 wide (20..61): column d samples source 2d + 0.5 -> mean of columns 2d, 2d+1,
    # so target columns 0..10 are >= 0.4 (column 10 is 0.5), 11..20 are 0.
    target = crop_and_resize_mask(gt, [20, 10, 61, 30])
    expected = np.zeros((21, 21), np.float32)
    expected[:, :11] = 1
    np.testing.assert_array_equal(target, expected)
    assert target.dtype == np.float32
    # ROI partly outside the image: outside counts as 0 and stays aligned.
    gt2 = np.ones((21, 21), np.uint8)
    target = crop_and_resize_mask(gt2, [-21, 0, 20, 20], size=21, binary_thresh=0.6)
    expected = np.zeros((21, 21), np.float32)
    expected[:, 11:] = 1  # column 10 mixes 0 and 1 -> 0.5 < 0.6
    np.testing.assert_array_equal(target, expected)


def test_crop_then_paste_round_trip_square():
    gt = np.zeros((60, 60), np.uint8)
    gt[15:36, 10:52] = 1
    roi = np.array([5.0, 10.0, 56.0, 40.0])
    target = crop_and_resize_mask(gt, roi, size=21, binary_thresh=0.5)
    back = paste_mask(target, roi, 60, 60, 0.5)
    inter = np.logical_and(back, gt).sum()
    union = np.logical_or(back, gt).sum()
    assert inter / union > 0.9


def reference_target(gt_mask, roi, size, binary_thresh):
    """The described rule, pixel by pixel: a zero (roi_h, roi_w) float32 crop of the ROI's
    rounded extent, filled with gt != 0 where the image covers it, cv2.resize bilinear to
    size x size, then >= binary_thresh."""
    x1, y1, x2, y2 = (int(np.floor(v + 0.5)) for v in roi)
    x2, y2 = max(x2, x1), max(y2, y1)
    crop = np.zeros((y2 - y1 + 1, x2 - x1 + 1), np.float32)
    for y in range(max(y1, 0), min(y2, gt_mask.shape[0] - 1) + 1):
        for x in range(max(x1, 0), min(x2, gt_mask.shape[1] - 1) + 1):
            crop[y - y1, x - x1] = float(gt_mask[y, x] != 0)
    resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return (resized >= binary_thresh).astype(np.float32)


def test_crop_and_resize_masks_match_the_rule_roi_by_roi():
    rng = np.random.RandomState(5)
    height, width = 70, 90
    masks = np.zeros((3, height, width), np.float32)
    masks[0, 10:50, 20:70] = 1.0
    masks[1] = rng.uniform(size=(height, width)) > 0.5  # ragged: many bilinear mixes
    masks[2, 30:, :40] = 0.25  # non-zero values other than 1 count as inside
    boxes = []
    for _ in range(60):  # inside, across the borders, and fully outside the image
        x1, y1 = rng.uniform(-40, width), rng.uniform(-40, height)
        boxes.append([x1, y1, x1 + rng.uniform(0, 80), y1 + rng.uniform(0, 80)])
    boxes = np.array(boxes)
    rows = rng.randint(0, 3, len(boxes))
    for size, thresh in ((21, 0.4), (20, 0.5), (7, 0.25)):
        targets = crop_and_resize_masks(masks, rows, boxes, size, thresh)
        assert targets.shape == (len(boxes), size, size) and targets.dtype == np.float32
        for k in range(len(boxes)):
            np.testing.assert_array_equal(
                targets[k], reference_target(masks[rows[k]], boxes[k], size, thresh))
    assert crop_and_resize_masks(masks, [], np.zeros((0, 4)), 21).shape == (0, 21, 21)
