"""lib.masks.voting: compiled core == NumPy core, an independent full-image reference, and a
hand-made case."""
import cv2
import numpy as np
import pytest

from lib.masks import crops_to_full, crops_to_rles, decode_rle, mask_nms, mask_voting
from lib.masks.mask_voting_cython import crop_run_lengths as compiled_run_lengths
from lib.masks.mask_voting_cython import vote_region
from lib.masks.rle import crop_run_lengths, encode_mask
from lib.masks.voting_numpy import vote_region_numpy


def random_problem(seed, n=40, num_classes=4, im_h=60, im_w=80, size=21, peak=3.0):
    """ROIs jittered around 4 objects (as proposals cluster), some sticking out of the image,
    so that many ROIs overlap with IoU on both sides of 0.5."""
    rng = np.random.RandomState(seed)
    centers = rng.uniform(-5, [im_w + 5, im_h + 5], (4, 2))
    sizes = rng.uniform(4, 40, (4, 2))
    obj = rng.randint(0, 4, n)
    ctr = centers[obj] + rng.normal(0, 0.15, (n, 2)) * sizes[obj]
    wh = sizes[obj] * np.exp(rng.normal(0, 0.2, (n, 2)))
    boxes = np.hstack([ctr - wh / 2, ctr + wh / 2])  # (n, 4)
    logits = rng.normal(0, 1, (n, num_classes))
    logits[np.arange(n), 1 + obj % (num_classes - 1)] += peak
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    masks = rng.uniform(size=(n, size, size)).astype(np.float32)
    return masks, boxes, scores


# ---------------------------------------------------------------- compiled vs NumPy core
@pytest.mark.parametrize('binarize_inputs', [True, False])
def test_core_cython_equals_numpy_bitwise(binarize_inputs):
    rng = np.random.RandomState(1)
    n = 12
    masks = rng.uniform(size=(n, 21, 17)).astype(np.float32)  # non-square too
    x1 = rng.randint(-20, 60, n)
    y1 = rng.randint(-20, 40, n)
    extents = np.stack([x1, y1, x1 + rng.randint(0, 70, n), y1 + rng.randint(0, 50, n)],
                       axis=1).astype(np.int32)
    members = np.ascontiguousarray(rng.choice(n, 7, replace=False).astype(np.intp))
    weights = rng.uniform(0.01, 1, 7).astype(np.float32)
    for region in [(0, 0, 79, 59), (10, 5, 30, 25), (70, 50, 79, 59)]:
        a = vote_region(masks, extents, members, weights, *region, 0.4, binarize_inputs)
        b = vote_region_numpy(masks, extents, members, weights, *region, 0.4, binarize_inputs)
        assert a.dtype == np.uint8 and a.shape == (region[3] - region[1] + 1, region[2] - region[0] + 1)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('seed,binarize_inputs', [(0, True), (1, False), (2, True)])
def test_pipeline_cython_equals_numpy(seed, binarize_inputs):
    masks, boxes, scores = random_problem(seed)
    args = (masks, boxes, scores, 4, 25, 60, 80)
    dets_c, crops_c = mask_voting(*args, binarize_inputs=binarize_inputs, backend='cython')
    dets_n, crops_n = mask_voting(*args, binarize_inputs=binarize_inputs, backend='numpy')
    for j in range(4):
        np.testing.assert_array_equal(dets_c[j], dets_n[j])
        assert len(crops_c[j]) == len(crops_n[j])
        for a, b in zip(crops_c[j], crops_n[j]):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- independent reference
def reference_iou(box, boxes):
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]) + 1
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]) + 1
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    def area(b):
        return (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area(box) + area(boxes) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def reference_nms(dets, thresh):
    order = list(np.argsort(-dets[:, 4], kind='stable'))
    keep = []
    while order:
        i, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(i)
        order = list(rest[reference_iou(dets[i], dets[rest]) <= thresh]) if len(rest) else []
    return keep


def paste_probabilities(mask, box, im_h, im_w):
    """Full-image float frame holding the mask resized (cv2) to the rounded box; 0 elsewhere."""
    x1, y1, x2, y2 = (int(np.floor(v + 0.5)) for v in box)
    x2, y2 = max(x2, x1), max(y2, y1)
    pad = 2 * max(im_h, im_w)
    frame = np.zeros((im_h + 2 * pad, im_w + 2 * pad), np.float32)  # big canvas, no clipping logic
    frame[y1 + pad:y2 + pad + 1, x1 + pad:x2 + pad + 1] = cv2.resize(mask, (x2 - x1 + 1, y2 - y1 + 1))
    return frame[pad:pad + im_h, pad:pad + im_w], (x1, y1, x2, y2)


def reference_mask_voting(masks, boxes, scores, num_classes, max_per_image, im_h, im_w,
                          nms_thresh=0.3, merge_thresh=0.5, thresh=0.4, score_thresh=1e-3):
    boxes = boxes.astype(np.float32).astype(np.float64)
    scores = scores.astype(np.float32)
    found = []  # (score, class, rank, roi, candidates)
    for j in range(1, num_classes):
        cand = np.where(scores[:, j] > score_thresh)[0]
        dets = np.hstack([boxes[cand], scores[cand, j:j + 1]])
        for rank, k in enumerate(reference_nms(dets, nms_thresh)):
            found.append((-scores[cand[k], j], j, rank, cand[k], cand))
    found.sort(key=lambda f: (f[0], f[1], f[2]))
    found = sorted(found[:max_per_image], key=lambda f: (f[1], f[2]))
    result = {j: [] for j in range(num_classes)}
    for _, j, _, roi, cand in found:
        voters = cand[reference_iou(boxes[roi], boxes[cand]) >= merge_thresh]
        if roi not in voters:
            voters = np.append(voters, roi)
        acc = np.zeros((im_h, im_w))
        for i in voters:
            frame, _ = paste_probabilities(masks[i], boxes[i], im_h, im_w)
            acc += scores[i, j] * (frame >= thresh)
        full = acc / scores[voters, j].sum() >= thresh
        _, (x1, y1, x2, y2) = paste_probabilities(masks[roi], boxes[roi], im_h, im_w)
        inside = np.zeros((im_h, im_w), bool)
        inside[max(y1, 0):y2 + 1, max(x1, 0):x2 + 1] = True
        result[j].append((boxes[roi], scores[roi, j], full & inside))
    return result


@pytest.mark.parametrize('seed,max_per_image', [(3, 100), (4, 10)])
def test_pipeline_matches_independent_reference(seed, max_per_image):
    masks, boxes, scores = random_problem(seed)
    dets, crops = mask_voting(masks, boxes, scores, 4, max_per_image, 60, 80)
    expected = reference_mask_voting(masks, boxes, scores, 4, max_per_image, 60, 80)
    assert sum(len(d) for d in dets) == min(max_per_image, sum(len(v) for v in expected.values()))
    mismatched, total = 0, 0
    for j in range(1, 4):
        assert len(dets[j]) == len(expected[j])
        full = crops_to_full(dets[j], crops[j], 60, 80)
        for n, (box, score, mask) in enumerate(expected[j]):
            np.testing.assert_allclose(dets[j][n, :4], box, rtol=0, atol=0)
            assert dets[j][n, 4] == score
            mismatched += int((full[n] != mask).sum())
            total += mask.size
    # cv2 and our bilinear differ by ~1e-7: only values at the threshold itself may flip.
    assert mismatched <= total * 1e-4


@pytest.mark.parametrize('core', [vote_region, vote_region_numpy])
def test_core_thresholds_are_inclusive(core):
    """Inputs equal to the threshold count as foreground, and so does an average equal to it:
    weights 0.5 and 0.75 give exactly 0.5 / 1.25 = 0.4 where only the first member votes."""
    masks = np.zeros((2, 3, 3), np.float32)
    masks[0, :, 0] = 0.4          # == binary_thresh -> 1 after binarization
    masks[0, :, 1] = 0.3999       # < binary_thresh -> 0
    masks[1, :, 2] = 1.0
    extents = np.array([[0, 0, 2, 2], [0, 0, 2, 2]], np.int32)
    members = np.array([0, 1], np.intp)
    weights = np.array([0.5, 0.75], np.float32)
    out = core(masks, extents, members, weights, 0, 0, 2, 2, 0.4, True)
    np.testing.assert_array_equal(out, np.tile([1, 0, 1], (3, 1)))
    # without binarizing the inputs: 0.5 * 0.4 / 1.25 = 0.16 -> 0; 0.75 / 1.25 = 0.6 -> 1
    out = core(masks, extents, members, weights, 0, 0, 2, 2, 0.4, False)
    np.testing.assert_array_equal(out, np.tile([0, 0, 1], (3, 1)))


# ---------------------------------------------------------------- hand-made case
def hand_made_case():
    """10x10 ROIs on a 10x20 image; ROI masks are 10x10, so no resampling happens.

    class 1: A [0..9] 0.9, B [1..10] 0.6 (IoU 0.82), C [2..11] 0.5 (IoU 0.67),
             D [4..13] 0.45 (IoU 0.43: suppressed by NMS 0.3, no vote), F [15..19] 0.3.
    Foreground (prob 0.9, else 0.1) on rows 0..4 at image columns A 0..3, B 3..6, C 5..8,
    D 4..13; F everywhere.
    """
    im_h, im_w = 10, 20
    starts = [0, 1, 2, 4]
    fg_cols = [(0, 3), (3, 6), (5, 8), (4, 13)]
    boxes, masks = [], []
    for start, (c1, c2) in zip(starts, fg_cols):
        boxes.append([start, 0, start + 9, 9])
        mask = np.full((10, 10), 0.1, np.float32)
        mask[0:5, max(c1 - start, 0):c2 - start + 1] = 0.9
        masks.append(mask)
    boxes.append([15, 0, 19, 9])
    masks.append(np.full((10, 10), 0.9, np.float32))
    scores = np.zeros((5, 3))
    scores[:, 1] = [0.9, 0.6, 0.5, 0.45, 0.3]
    scores[4, 2] = 0.7
    return np.array(masks), np.array(boxes, np.float64), scores, im_h, im_w


def test_hand_made_voting():
    masks, boxes, scores, im_h, im_w = hand_made_case()
    dets, crops = mask_voting(masks, boxes, scores, 3, 100, im_h, im_w)
    np.testing.assert_allclose(dets[1], [[0, 0, 9, 9, 0.9], [15, 0, 19, 9, 0.3]], rtol=1e-6)
    np.testing.assert_allclose(dets[2], [[15, 0, 19, 9, 0.7]], rtol=1e-6)
    # Voters A, B, C with weights 0.9, 0.6, 0.5 (total 2.0, needs >= 0.8):
    # cols 0-2 A 0.9 -> 1; col 3 A+B 1.5 -> 1; col 4 B 0.6 -> 0 (D does not vote);
    # cols 5-6 B+C 1.1 -> 1; cols 7-8 C 0.5 -> 0; col 9 nothing -> 0.
    expected = np.zeros((10, 10), np.uint8)
    expected[0:5] = [1, 1, 1, 1, 0, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(crops[1][0], expected)
    np.testing.assert_array_equal(crops[1][1], np.ones((10, 5), np.uint8))
    # Without voting A keeps its own mask (cols 0..3 on rows 0..4).
    dets_nms, crops_nms = mask_nms(masks, boxes, scores, 3, 100, im_h, im_w)
    np.testing.assert_array_equal(dets_nms[1], dets[1])
    own = np.zeros((10, 10), np.uint8)
    own[0:5, 0:4] = 1
    np.testing.assert_array_equal(crops_nms[1][0], own)
    # max_per_image 2 keeps A (0.9, class 1) and F (0.7, class 2), drops F in class 1.
    dets2, crops2 = mask_voting(masks, boxes, scores, 3, 2, im_h, im_w)
    assert [len(d) for d in dets2] == [0, 1, 1]
    np.testing.assert_array_equal(crops2[1][0], expected)


def test_crops_to_full_and_rles():
    masks, boxes, scores, im_h, im_w = hand_made_case()
    dets, crops = mask_voting(masks, boxes, scores, 3, 100, im_h, im_w)
    full = crops_to_full(dets[1], crops[1], im_h, im_w)
    assert full.shape == (2, 10, 20)
    np.testing.assert_array_equal(full[0, :, :10], crops[1][0])
    assert full[0, :, 10:].sum() == 0
    np.testing.assert_array_equal(full[1, :, 15:], 1)
    np.testing.assert_array_equal(decode_rle(crops_to_rles(dets[1], crops[1], im_h, im_w)), full)
    with pytest.raises(ValueError, match='does not match its box'):
        crops_to_full(dets[1], crops[1][::-1], im_h, im_w)


def test_empty_inputs_and_bad_shapes():
    dets, crops = mask_voting(np.zeros((0, 21, 21)), np.zeros((0, 4)), np.zeros((0, 5)), 5, 100, 30, 40)
    assert len(dets) == 5 and all(d.shape == (0, 5) for d in dets)
    assert all(c == [] for c in crops)
    with pytest.raises(ValueError, match='scores has 3 columns but num_classes is 4'):
        mask_voting(np.zeros((2, 21, 21)), np.zeros((2, 4)), np.zeros((2, 3)), 4, 100, 30, 40)
    with pytest.raises(ValueError, match='same N'):
        mask_voting(np.zeros((2, 21, 21)), np.zeros((3, 4)), np.zeros((2, 4)), 4, 100, 30, 40)


def test_merge_threshold_decides_who_votes():
    """With merge_thresh 0.42, D (IoU 0.43 to A, fg cols 4..13) votes too. Weights A 0.9,
    B 0.6, C 0.5, D 0.45: total 2.45, a pixel needs >= 0.98. Cols 0-2 A 0.9 -> 0; col 3
    A+B 1.5 -> 1; col 4 B+D 1.05 -> 1; cols 5-6 B+C+D 1.55 -> 1; cols 7-8 C+D 0.95 -> 0;
    col 9 D 0.45 -> 0."""
    masks, boxes, scores, im_h, im_w = hand_made_case()
    _, crops = mask_voting(masks, boxes, scores, 3, 100, im_h, im_w, merge_thresh=0.42)
    expected = np.zeros((10, 10), np.uint8)
    expected[0:5] = [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(crops[1][0], expected)


def test_crop_run_lengths_compiled_equal_numpy_and_full_frame():
    """Run lengths of a crop in a frame: compiled == NumPy, and the RLEs of crops_to_rles
    (both backends, uint8 and bool crops) == pycocotools on the image-sized masks."""
    rng = np.random.RandomState(3)
    im_h, im_w = 13, 17
    cases = [(np.ones((im_h, im_w), np.uint8), 0, 0), (np.zeros((im_h, im_w), np.uint8), 0, 0),
             (np.ones((1, 1), np.uint8), im_w - 1, im_h - 1), (np.ones((im_h, 2), np.uint8), 5, 0),
             (np.full((3, 4), 9, np.uint8), 2, 3), (np.zeros((0, 3), np.uint8), 0, 0)]
    for _ in range(300):
        h, w = rng.randint(1, im_h + 1), rng.randint(1, im_w + 1)
        crop = (rng.uniform(size=(h, w)) > rng.uniform(0.05, 0.95)).astype(np.uint8)
        cases.append((crop, rng.randint(0, im_w - w + 1), rng.randint(0, im_h - h + 1)))
    for crop, x1, y1 in cases:
        ours = compiled_run_lengths(crop, x1, y1, im_h, im_w)
        np.testing.assert_array_equal(ours, crop_run_lengths(crop, x1, y1, im_h, im_w))
        frame = np.zeros((im_h, im_w), np.uint8)
        frame[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]] = crop != 0
        det = np.array([[x1, y1, x1 + max(crop.shape[1], 1) - 1,
                         y1 + max(crop.shape[0], 1) - 1, 1.0]], np.float32)
        if crop.size == 0:
            det[0, :4] = [0, im_h + 3, 2, im_h + 5]  # a box under the image: empty (0, 3) crop
        for backend in ('cython', 'numpy'):
            for kind in (crop, crop.astype(bool)):
                assert crops_to_rles(det, [kind], im_h, im_w, backend=backend) == \
                    [encode_mask(frame)]


def test_backend_names_are_checked():
    masks = np.full((1, 4, 4), 0.9, dtype=np.float32)
    boxes = np.array([[2, 2, 9, 9]], dtype=np.float32)
    scores = np.array([[0.1, 0.9]], dtype=np.float32)
    for bad in ('cuda', 'gpu:x'):
        with pytest.raises(ValueError, match='backend'):
            mask_voting(masks, boxes, scores, 2, 10, 20, 20, backend=bad)
    try:
        import lib.masks.gpu_mask_voting  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match='nvcc and a CUDA MXNet'):
            mask_voting(masks, boxes, scores, 2, 10, 20, 20, backend='gpu')
