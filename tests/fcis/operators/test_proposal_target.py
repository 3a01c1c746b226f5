"""'fcis_proposal_target': sampling, class/box targets and mask targets computed by hand."""
import mxnet as mx
import numpy as np
import pytest

import fcis.operators  # noqa: F401  (registers the ops)

IM_H, IM_W = 40, 40
GT_BOX = [10, 10, 29, 29, 2]  # 20 x 20 box of class 2
# IoU with GT_BOX ("+1" areas, GT area 400):
ROIS = np.array([[0, 9, 10, 28, 29],    # inter 19*20=380 / 420 = 0.90 -> fg
                 [0, 12, 10, 31, 29],   # inter 18*20=360 / 440 = 0.82 -> fg
                 [0, 0, 0, 9, 9],       # no overlap: IoU 0           -> bg
                 [0, 20, 10, 39, 29],   # inter 10*20=200 / 600 = 0.33 -> bg
                 [0, 0, 20, 39, 39]],   # inter 20*10=200 / 1000 = 0.2 -> bg
                dtype=np.float32)
FG_ROWS, BG_ROWS = [0, 1], [2, 3, 4]


def l_shaped_mask():
    """GT mask inside GT_BOX: a vertical bar (cols 10..19, all rows 10..29) plus a bottom bar
    (rows 26..29, cols 10..29)."""
    mask = np.zeros((IM_H, IM_W), dtype=np.float32)
    mask[10:30, 10:20] = 1
    mask[26:30, 10:30] = 1
    return mask


def run(rois, gt_boxes, gt_masks, **attrs):
    """The op with the 'capped' sampler unless attrs say otherwise."""
    params = dict(num_classes='3', batch_rois='8', fg_fraction='0.5', bg_thresh_lo='0.0',
                  mask_size='5', binary_thresh='0.4', bbox_stds='(0.2, 0.2, 0.5, 0.5)',
                  sampling='capped')
    params.update(attrs)
    outs = mx.nd.Custom(mx.nd.array(rois), mx.nd.array(gt_boxes), mx.nd.array(gt_masks),
                        op_type='fcis_proposal_target', **params)
    return [out.asnumpy() for out in outs]


def source_row(box):
    """Index in ROIS of a 4-vector box (5 = the appended GT box)."""
    for i, roi in enumerate(ROIS):
        if np.allclose(roi[1:], box):
            return i
    assert np.allclose(box, GT_BOX[:4]), 'output ROI %s is neither a proposal nor the GT' % box
    return 5


def test_split_box_and_mask_targets_by_hand(test_seed):
    np.random.seed(test_seed)
    rois, label, bbox_target, bbox_weight, mask_target = run(
        ROIS, np.array([[GT_BOX]]), l_shaped_mask()[None, None])
    assert rois.shape == (8, 5) and label.shape == (8,) and mask_target.shape == (8, 5, 5)
    assert bbox_target.shape == bbox_weight.shape == (8, 8)
    sources = [source_row(box) for box in rois[:, 1:]]
    # fg pool = proposals 0, 1 and the appended GT (3 <= round(0.5 * 8) = 4): all taken first
    assert sorted(sources[:3]) == [0, 1, 5]
    # bg pool = proposals 2, 3, 4: all taken, then 2 padding rows drawn from them
    assert sorted(sources[3:6]) == BG_ROWS and set(sources[6:]) <= set(BG_ROWS)
    np.testing.assert_array_equal(rois[:, 0], 0)
    np.testing.assert_array_equal(label, [2, 2, 2, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(bbox_weight[:3], [[0, 0, 0, 0, 1, 1, 1, 1]] * 3)
    np.testing.assert_array_equal(bbox_weight[3:], 0)
    np.testing.assert_array_equal(bbox_target[:, :4], 0)
    np.testing.assert_array_equal(mask_target[3:], -1)

    # All boxes are 20 x 20, so only dx is non-zero: GT centre x 19.5; proposal 0 centre
    # 18.5 -> dx = 1 / 20 = 0.05, / std 0.2 = 0.25; proposal 1 centre 21.5 -> -0.1 -> -0.5.
    expected_target = {0: [0.25, 0, 0, 0], 1: [-0.5, 0, 0, 0], 5: [0, 0, 0, 0]}
    # Masks, 20x20 crop -> 5x5 bilinear: output pixel d samples source (d + 0.5) * 4 - 0.5 =
    # 1.5, 5.5, 9.5, 13.5, 17.5 (rows and columns). Crop rows 16..19 are the bottom bar, so
    # only row sample 17.5 sees it (the bar covers every column sample it reaches).
    # GT box: crop cols 0..9 are the vertical bar; 9.5 averages col 9 (1) and col 10 (0)
    # -> 0.5 >= 0.4 -> 1.
    mask_gt = [[1, 1, 1, 0, 0]] * 4 + [[1, 1, 1, 1, 1]]
    # Proposal 0 starts 1 column earlier (crop cols 1..10 = bar): 9.5 -> 1, 13.5 -> 0.
    mask_roi0 = [[1, 1, 1, 0, 0]] * 4 + [[1, 1, 1, 1, 1]]
    # Proposal 1 starts 2 columns later (crop cols 0..7 = bar): 9.5 -> 0; its last 2 columns
    # (image cols 30, 31) are outside the mask, so 17.5 (crop cols 17, 18 = image 29, 30)
    # averages 1 and 0 -> 0.5 -> 1.
    mask_roi1 = [[1, 1, 0, 0, 0]] * 4 + [[1, 1, 1, 1, 1]]
    expected_mask = {0: mask_roi0, 1: mask_roi1, 5: mask_gt}
    for row in range(3):
        np.testing.assert_allclose(bbox_target[row, 4:], expected_target[sources[row]],
                                   atol=1e-6)
        np.testing.assert_array_equal(mask_target[row], expected_mask[sources[row]])


def test_binary_threshold_and_bg_lower_threshold(test_seed):
    np.random.seed(test_seed)
    rois, label, _, _, mask_target = run(ROIS, np.array([[GT_BOX]]), l_shaped_mask()[None, None],
                                         binary_thresh='0.6', bg_thresh_lo='0.25')
    sources = [source_row(box) for box in rois[:, 1:]]
    # bg pool is only proposal 3 (IoU 0.33); IoU 0 and 0.2 fall under bg_thresh_lo
    assert set(sources[3:]) == {3}
    # at 0.6 the GT box's half-covered sample (0.5) at column 9.5 is background
    np.testing.assert_array_equal(mask_target[sources.index(5)],
                                  [[1, 1, 0, 0, 0]] * 4 + [[1] * 5])


def test_foreground_quota_is_respected(test_seed):
    np.random.seed(test_seed + 1)
    rng = np.random.RandomState(test_seed + 1)
    jitter = rng.randint(-2, 3, size=(30, 4))  # 30 proposals near the GT: IoU >= 0.5
    near = np.hstack([np.zeros((30, 1)), np.array(GT_BOX[:4]) + jitter])
    rois = np.vstack([near, ROIS[BG_ROWS]]).astype(np.float32)
    out_rois, label, _, bbox_weight, mask_target = run(rois, np.array([[GT_BOX]]),
                                                       l_shaped_mask()[None, None])
    np.testing.assert_array_equal(label, [2] * 4 + [0] * 4)  # round(0.5 * 8) = 4 foreground
    assert len({tuple(box) for box in out_rois[:4, 1:]}) == 4  # drawn without replacement
    assert (mask_target[:4] >= 0).all() and (mask_target[4:] == -1).all()
    assert bbox_weight[:4, 4:].all() and not bbox_weight[4:].any()


def test_no_valid_gt_gives_all_background(test_seed):
    gt_boxes = np.array([[[5, 5, 30, 30, 0], [0, 0, 0, 0, -1]]])  # padding rows only
    gt_masks = np.ones((1, 2, IM_H, IM_W))
    np.random.seed(test_seed + 2)
    rois, label, bbox_target, bbox_weight, mask_target = run(ROIS, gt_boxes, gt_masks,
                                                             bg_thresh_lo='0.1')
    assert rois.shape == (8, 5)
    assert {source_row(box) for box in rois[:, 1:]} <= set(range(5))  # only the proposals
    assert not label.any() and not bbox_target.any() and not bbox_weight.any()
    np.testing.assert_array_equal(mask_target, -1)


def test_fewer_rois_than_batch_and_all_rois_mode(test_seed):
    np.random.seed(test_seed + 3)
    rois = ROIS[[1, 3]]  # one fg and one bg proposal, plus the GT appended
    outs = run(rois, np.array([[GT_BOX]]), l_shaped_mask()[None, None], batch_rois='16')
    assert [out.shape for out in outs] == [(16, 5), (16,), (16, 8), (16, 8), (16, 5, 5)]
    label = outs[1]
    np.testing.assert_array_equal(label, [2, 2] + [0] * 14)  # bg proposal 3 repeated
    np.testing.assert_array_equal(outs[0][2:, 1:], np.repeat(ROIS[3:4, 1:], 14, axis=0))
    outs = run(rois, np.array([[GT_BOX]]), l_shaped_mask()[None, None], batch_rois='-1')
    assert [out.shape for out in outs] == [(2, 5), (2,), (2, 8), (2, 8), (2, 5, 5)]
    np.testing.assert_array_equal(outs[1], [2, 0])  # round(0.5 * 2) = 1 fg, then 1 bg


def test_padding_from_foreground_when_no_background(test_seed):
    np.random.seed(test_seed + 4)
    rois = ROIS[[0, 1]]  # both foreground; the GT makes 3 fg candidates, no bg at all
    rois_out, label, _, bbox_weight, mask_target = run(rois, np.array([[GT_BOX]]),
                                                       l_shaped_mask()[None, None])
    np.testing.assert_array_equal(label, 2)
    assert {source_row(box) for box in rois_out[:, 1:]} <= {0, 1, 5}
    assert bbox_weight[:, 4:].all() and (mask_target >= 0).all()


def test_symbol_shapes_and_zero_gradient(test_seed):
    data = [mx.sym.Variable(name) for name in ('rois', 'gt_boxes', 'gt_masks')]
    sym = mx.sym.Custom(*data, op_type='fcis_proposal_target', num_classes='3',
                        batch_rois='-1', mask_size='21', sampling='capped')
    shapes = dict(rois=(300, 5), gt_boxes=(1, 4, 5), gt_masks=(1, 4, 60, 80))
    _, out_shapes, _ = sym.infer_shape(**shapes)
    assert out_shapes == [(300, 5), (300,), (300, 8), (300, 8), (300, 21, 21)]
    release = mx.sym.Custom(*data, op_type='fcis_proposal_target', num_classes='3',
                            batch_rois='-1', mask_size='21')  # every proposal and GT row
    assert release.infer_shape(**shapes)[1][0] == (304, 5)
    exe = sym.simple_bind(mx.cpu(), grad_req='write', rois=(5, 5), gt_boxes=(1, 1, 5),
                          gt_masks=(1, 1, IM_H, IM_W))
    np.random.seed(test_seed + 5)
    exe.forward(is_train=True, rois=ROIS, gt_boxes=np.array([[GT_BOX]]),
                gt_masks=l_shaped_mask()[None, None])
    exe.backward()
    for grad in exe.grad_arrays:
        assert not grad.asnumpy().any()


def near_gt_rois(count, seed):
    """`count` proposals jittered by at most 2 px around GT_BOX (IoU >= 0.67: foreground)."""
    jitter = np.random.RandomState(seed).randint(-2, 3, size=(count, 4))
    return np.hstack([np.zeros((count, 1)), np.array(GT_BOX[:4]) + jitter])


def test_release_all_rois_keeps_every_candidate_in_index_order(test_seed):
    """batch_rois -1 ('release', OHEM's pool): the 5 proposals + the GT box, foreground
    first (proposals 0, 1, GT), then background (2, 3, 4), without any random draw."""
    np.random.seed(test_seed + 6)
    state = np.random.get_state()[1].copy()
    rois, label, _, bbox_weight, mask_target = run(
        ROIS, np.array([[GT_BOX]]), l_shaped_mask()[None, None], batch_rois='-1',
        sampling='release')
    assert [source_row(box) for box in rois[:, 1:]] == [0, 1, 5, 2, 3, 4]
    np.testing.assert_array_equal(label, [2, 2, 2, 0, 0, 0])
    assert (mask_target[:3] >= 0).all() and (mask_target[3:] == -1).all()
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_release_all_rois_has_no_foreground_cap(test_seed):
    rois = np.vstack([near_gt_rois(30, test_seed + 1), ROIS[BG_ROWS]]).astype(np.float32)
    out_rois, label, _, _, _ = run(rois, np.array([[GT_BOX]]), l_shaped_mask()[None, None],
                                   batch_rois='-1', sampling='release', fg_fraction='0.25')
    np.testing.assert_array_equal(label, [2] * 31 + [0] * 3)  # 30 near + GT, then 3 bg
    capped = run(rois, np.array([[GT_BOX]]), l_shaped_mask()[None, None], batch_rois='-1',
                 sampling='capped', fg_fraction='0.25')[1]
    assert (capped > 0).sum() == round(0.25 * 33)             # the project's cap


@pytest.mark.parametrize('gap_from_all', [False, True])
def test_release_padding_without_replacement_from_non_foreground(gap_from_all, test_seed):
    """batch 8 at fg_fraction 0.25: 2 of the 31 foreground candidates are drawn, the 3
    background ones follow, and the 3 missing rows are drawn without replacement from the
    candidates that were not drawn as foreground (from all with gap_from_all); they are
    background whatever their IoU."""
    rois = np.vstack([near_gt_rois(30, test_seed + 2), ROIS[BG_ROWS]]).astype(np.float32)
    np.random.seed(test_seed + 7)
    out_rois, label, _, bbox_weight, mask_target = run(
        rois, np.array([[GT_BOX]]), l_shaped_mask()[None, None], sampling='release',
        fg_fraction='0.25', gap_from_all=str(gap_from_all))
    candidates = np.vstack([rois[:, 1:], [GT_BOX[:4]]])     # 34: proposals, then the GT
    # reference draws with the same generator: fg, then the gap (bg is taken whole)
    np.random.seed(test_seed + 7)
    fg = np.random.choice(np.r_[0:30, 33], size=2, replace=False)
    pool = np.arange(34) if gap_from_all else np.setdiff1d(np.arange(34), fg)
    gap = np.random.choice(pool, size=3, replace=False)
    expected = np.concatenate([fg, [30, 31, 32], gap])
    np.testing.assert_array_equal(out_rois[:, 1:], candidates[expected])
    np.testing.assert_array_equal(label, [2, 2, 0, 0, 0, 0, 0, 0])
    assert (mask_target[2:] == -1).all() and not bbox_weight[2:].any()
