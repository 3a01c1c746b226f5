"""RPN anchor targets: hand-computed cases and a loop reference written here."""
import numpy as np
import pytest

from lib.rpn import assign_anchor, generate_anchors

UNIT = dict(feat_stride=16, scales=(1,), ratios=(1,))   # one 16x16 anchor per cell: [16x, 16y, 16x+15, 16y+15]


def run(gt, feat=(2, 3), im=(32, 48), seed=0, **kw):
    args = dict(UNIT)
    args.update(kw)
    return assign_anchor(feat, np.array(gt, dtype=np.float32), (im[0], im[1], 1.0),
                         np.random.RandomState(seed), **args)


def test_one_gt_box_hand_computed():
    # GT [0, 0, 27, 15] (28 x 16) on a 2x3 map of 16x16 anchors:
    #   cell (0,0): inter 16*16 = 256, union 448 -> IoU 0.571: the GT's best anchor -> fg
    #   cell (0,1): inter 12*16 = 192, union 512 -> IoU 0.375: in [0.3, 0.7) -> ignored
    #   other cells: IoU 0 -> bg
    out = run([[0, 0, 27, 15]])
    label = out['label'].reshape(1, 2, 3)                  # (A, fh, fw)
    np.testing.assert_array_equal(label[0], [[1, -1, 0], [0, 0, 0]])
    # target of cell (0,0): anchor centre 7.5, width 16; GT centre 13.5, width 28
    target = out['bbox_target'].reshape(4, 2, 3)
    np.testing.assert_allclose(target[:, 0, 0], [6 / 16., 0, np.log(28 / 16.), 0], rtol=1e-6)
    weight = out['bbox_weight'].reshape(4, 2, 3)
    np.testing.assert_array_equal(weight[:, 0, 0], 1)
    assert weight.sum() == 4


def test_tied_best_anchors_are_all_foreground():
    # GT [8, 0, 23, 15] overlaps cells (0,0) and (0,1) by 8*16 = 128 of 384: IoU 1/3 each, both best
    out = run([[8, 0, 23, 15]])
    np.testing.assert_array_equal(out['label'].reshape(2, 3), [[1, 1, 0], [0, 0, 0]])
    dx = out['bbox_target'].reshape(4, 2, 3)[0, 0, :2]
    np.testing.assert_allclose(dx, [0.5, -0.5])            # GT centre 15.5 vs 7.5 and 23.5


def test_high_overlap_and_border():
    # GT [0, 0, 19, 15]: IoU 256/320 = 0.8 with cell (0,0) -> fg; 64/512 with (0,1) -> bg
    out = run([[0, 0, 19, 15]])
    np.testing.assert_array_equal(out['label'].reshape(2, 3), [[1, 0, 0], [0, 0, 0]])
    # image 32 x 40: cells with x = 2 reach x2 = 47 >= 40 -> outside -> -1, weights and targets 0
    out = run([[0, 0, 19, 15]], im=(32, 40))
    np.testing.assert_array_equal(out['label'].reshape(2, 3)[:, 2], [-1, -1])
    assert not out['bbox_target'].reshape(4, 2, 3)[:, :, 2].any()
    # allowed_border 8 lets them in again
    out = run([[0, 0, 19, 15]], im=(32, 40), allowed_border=8)
    np.testing.assert_array_equal(out['label'].reshape(2, 3)[:, 2], [0, 0])


def test_layout_with_several_anchors_per_cell():
    # A = 2 (16x16 and 32x32 around the cell centre); GT equal to the 32x32 anchor of cell (1, 2)
    base = generate_anchors(16, ratios=(1,), scales=(1, 2))
    gt = base[1] + [32, 16, 32, 16]
    out = run([gt], feat=(3, 4), im=(64, 80), scales=(1, 2), allowed_border=100)
    label = out['label'].reshape(2, 3, 4)                  # (A, fh, fw)
    assert label[1, 1, 2] == 1
    assert (label == 1).sum() == 1                         # only the exact match reaches 0.7
    weight = out['bbox_weight'].reshape(1, 2 * 4, 3, 4)    # (1, 4A, fh, fw)
    np.testing.assert_array_equal(np.nonzero(weight[0].sum(axis=0)), [[1], [2]])
    np.testing.assert_array_equal(weight[0, 4:8, 1, 2], 1)
    assert out['bbox_target'][0, 4:8, 1, 2].tolist() == [0, 0, 0, 0]


def reference_targets(gt, feat, im, feat_stride, scales, ratios, pos=0.7, neg=0.3):
    """Labels (before subsampling) and targets of every anchor, by loops (order fh, fw, A)."""
    base = generate_anchors(feat_stride, ratios, scales)
    def iou(a, b):
        iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
        ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
        if iw <= 0 or ih <= 0:
            return 0.0
        area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
        return iw * ih / (area(a) + area(b) - iw * ih)
    anchors = [base[a] + [x * feat_stride, y * feat_stride] * 2
               for y in range(feat[0]) for x in range(feat[1]) for a in range(len(base))]
    inside = [an[0] >= 0 and an[1] >= 0 and an[2] < im[1] and an[3] < im[0] for an in anchors]
    ious = np.array([[iou(an, g) if ok else -1 for g in gt] for an, ok in zip(anchors, inside)])
    labels = np.full(len(anchors), -1)
    targets = np.zeros((len(anchors), 4))
    best_iou = ious.max(axis=0)
    for i, (an, ok) in enumerate(zip(anchors, inside)):
        if not ok:
            continue
        m = ious[i].max()
        labels[i] = 1 if (m >= pos or np.any((ious[i] == best_iou) & (best_iou > 0))) else (0 if m < neg else -1)
        g = gt[ious[i].argmax()]
        aw, ah, gw, gh = an[2] - an[0] + 1, an[3] - an[1] + 1, g[2] - g[0] + 1, g[3] - g[1] + 1
        targets[i] = [(g[0] + (gw - 1) / 2 - an[0] - (aw - 1) / 2) / aw,
                      (g[1] + (gh - 1) / 2 - an[1] - (ah - 1) / 2) / ah, np.log(gw / aw), np.log(gh / ah)]
    return labels, targets


def test_matches_loop_reference_without_subsampling(test_seed):
    rng = np.random.RandomState(test_seed + 1)
    feat, im = (6, 8), (90, 120)
    xy = rng.uniform(0, 60, size=(4, 2))
    gt = np.hstack([xy, xy + rng.uniform(20, 60, size=(4, 2))]).astype(np.float32)
    args = dict(feat_stride=16, scales=(1, 2, 4), ratios=(0.5, 1, 2))
    labels, targets = reference_targets(gt, feat, im, **args)
    out = assign_anchor(feat, gt, (im[0], im[1], 1.0), np.random.RandomState(test_seed),
                        batch_size=100000, fg_fraction=0.5, **args)
    a = 9
    got = out['label'].reshape(a, feat[0], feat[1]).transpose(1, 2, 0).reshape(-1)   # -> (fh, fw, A)
    np.testing.assert_array_equal(got, labels)
    assert all((labels == v).sum() >= 2 for v in (-1, 0, 1))                         # a non-trivial case
    got_t = out['bbox_target'].reshape(a, 4, feat[0], feat[1]).transpose(2, 3, 0, 1).reshape(-1, 4)
    fg = labels == 1
    np.testing.assert_allclose(got_t[fg], targets[fg], rtol=1e-5, atol=1e-6)
    got_w = out['bbox_weight'].reshape(a, 4, feat[0], feat[1]).transpose(2, 3, 0, 1).reshape(-1, 4)
    np.testing.assert_array_equal(got_w, np.repeat(fg[:, None], 4, axis=1))


def test_subsampling_is_bounded_and_seeded(test_seed):
    gt = [[0, 0, 200, 150], [100, 60, 300, 250]]
    def sample(seed, batch_size=16):
        return assign_anchor((20, 25), np.array(gt, np.float32), (320, 400, 1.0), np.random.RandomState(seed),
                             feat_stride=16, scales=(4, 8, 16), ratios=(0.5, 1, 2), batch_size=batch_size)
    full = sample(test_seed, batch_size=10 ** 6)['label']
    assert (full == 1).sum() > 8 and (full == 0).sum() > 8
    out = sample(test_seed)['label']
    assert (out == 1).sum() == 8 and (out == 0).sum() == 8      # half foreground, 16 in all
    assert np.all(full[out == 1] == 1) and np.all(full[out == 0] == 0)
    np.testing.assert_array_equal(sample(test_seed)['label'], out)      # same seed, same sample
    assert not np.array_equal(sample(test_seed + 1)['label'], out)


def test_no_gt_gives_background_only_and_padded_rows_are_ignored():
    out = run(np.zeros((0, 4)), batch_size=4)
    assert (out['label'] == 0).sum() == 4 and (out['label'] == 1).sum() == 0
    padded = run([[0, 0, 19, 15, 3], [-1, -1, -1, -1, -1]])
    np.testing.assert_array_equal(padded['label'], run([[0, 0, 19, 15]])['label'])


@pytest.mark.parametrize('clobber', [False, True])
def test_clobber_positives(clobber):
    # best anchor of GT [8, 0, 23, 15] has IoU 1/3 >= 0.3 (not negative): unchanged either way;
    # with negative_overlap 0.5 it is negative: clobber decides
    out = run([[8, 0, 23, 15]], negative_overlap=0.5, clobber_positives=clobber)
    expected = 0 if clobber else 1
    np.testing.assert_array_equal(out['label'].reshape(2, 3)[0, :2], [expected, expected])


def test_gt_without_overlapping_anchor_release_rule():
    """GT 1 overlaps no anchor: skipped by default; with match_zero_overlap (the release)
    every anchor, all at IoU 0 = its maximum, is 'best' for it and foreground."""
    from lib.rpn.anchor_target import label_anchors
    overlaps = np.array([[0.8, 0.0], [0.1, 0.0], [0.0, 0.0], [0.25, 0.0]])
    np.testing.assert_array_equal(label_anchors(overlaps), [1, 0, 0, 0])
    np.testing.assert_array_equal(label_anchors(overlaps, match_zero_overlap=True), [1, 1, 1, 1])
    # a GT with some overlap is unaffected by the rule: its best anchor only
    overlaps[2, 1] = 0.05
    np.testing.assert_array_equal(label_anchors(overlaps, match_zero_overlap=True), [1, 0, 1, 0])
