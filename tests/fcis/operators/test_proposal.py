"""'fcis_proposal' against a loop-based NumPy reference (anchors, decoding, greedy NMS)."""
import math

import mxnet as mx
import numpy as np
import pytest

import fcis.operators  # noqa: F401  (registers the ops)


def reference_anchors(base_size, ratios, scales):
    """Classic anchors, ratio-major then scale, "+1" convention, one loop per anchor."""
    anchors = []
    center = (base_size - 1) / 2.0
    for ratio in ratios:
        width = round(math.sqrt(base_size * base_size / ratio))
        height = round(width * ratio)
        for scale in scales:
            w, h = width * scale, height * scale
            anchors.append([center - (w - 1) / 2, center - (h - 1) / 2,
                            center + (w - 1) / 2, center + (h - 1) / 2])
    return anchors


def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def reference_proposals(cls_prob, bbox_deltas, im_info, stride, ratios, scales, pre, thresh,
                        min_size, release=False):
    """Kept proposals of one image, NMS order, before padding: list of (box, score).

    release=False: min_size x im_scale, anchors on every cell of the map. release=True:
    min_size in input pixels, anchors on the cells (y, x) with y < int(h / stride) and
    x < int(w / stride) only.
    """
    base = reference_anchors(stride, ratios, scales)
    num_anchors = len(base)
    height, width, im_scale = im_info
    if release:
        min_side = min_size
        rows = min(cls_prob.shape[1], int(height / stride))
        cols = min(cls_prob.shape[2], int(width / stride))
    else:
        min_side = min_size * im_scale
        rows, cols = cls_prob.shape[1:]
    candidates = []
    for y in range(rows):
        for x in range(cols):
            for a in range(num_anchors):
                ax1, ay1, ax2, ay2 = (base[a][0] + x * stride, base[a][1] + y * stride,
                                      base[a][2] + x * stride, base[a][3] + y * stride)
                aw, ah = ax2 - ax1 + 1, ay2 - ay1 + 1
                acx, acy = ax1 + 0.5 * (aw - 1), ay1 + 0.5 * (ah - 1)
                dx, dy, dw, dh = (float(bbox_deltas[4 * a + j, y, x]) for j in range(4))
                cx, cy = dx * aw + acx, dy * ah + acy
                w, h = math.exp(dw) * aw, math.exp(dh) * ah
                box = [cx - 0.5 * (w - 1), cy - 0.5 * (h - 1),
                       cx + 0.5 * (w - 1), cy + 0.5 * (h - 1)]
                box = [min(max(box[0], 0), width - 1), min(max(box[1], 0), height - 1),
                       min(max(box[2], 0), width - 1), min(max(box[3], 0), height - 1)]
                if box[2] - box[0] + 1 >= min_side and box[3] - box[1] + 1 >= min_side:
                    candidates.append((box, float(cls_prob[num_anchors + a, y, x])))
    candidates.sort(key=lambda item: -item[1])  # stable: ties keep enumeration order
    candidates = candidates[:pre]
    kept = []
    for box, score in candidates:
        if all(iou(box, other) <= thresh for other, _ in kept):
            kept.append((box, score))
    return kept


def random_inputs(rng, num_images, num_anchors, fh, fw):
    logits = rng.randn(num_images, 2, num_anchors, fh, fw)
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cls_prob = prob.reshape(num_images, 2 * num_anchors, fh, fw)  # bg A channels, fg A channels
    bbox_deltas = 0.3 * rng.randn(num_images, 4 * num_anchors, fh, fw)
    return cls_prob.astype(np.float32), bbox_deltas.astype(np.float32)


def run_proposal(cls_prob, bbox_deltas, im_info, **attrs):
    return mx.nd.Custom(mx.nd.array(cls_prob), mx.nd.array(bbox_deltas), mx.nd.array(im_info),
                        op_type='fcis_proposal', **attrs)


# the project's rules (min size x image scale, the whole map, clipped dw/dh)
ATTRS = dict(feat_stride='8', scales='(2, 4)', ratios='(0.5, 1, 2)', rpn_pre_nms_top_n='60',
             rpn_post_nms_top_n='25', threshold='0.7', rpn_min_size='10', output_score='True',
             min_size_scaled='True', anchor_grid='feature', delta_clip='True')
# the release's rules
RELEASE = dict(ATTRS, min_size_scaled='False', anchor_grid='image', delta_clip='False')


@pytest.mark.parametrize('release, tied', [(False, False), (True, False), (False, True)])
def test_matches_loop_reference_on_random_inputs(release, tied, test_seed):
    """tied: scores rounded to 1/20, so that many equal scores straddle the pre-NMS cut."""
    rng = np.random.RandomState(test_seed)
    fh, fw, num_anchors = 6, 8, 6
    cls_prob, bbox_deltas = random_inputs(rng, 2, num_anchors, fh, fw)
    if tied:
        cls_prob = np.round(cls_prob * 20) / np.float32(20)
    # image 0: 45x60 at stride 8 gives a 5x7 anchor grid of the 6x8 map
    im_info = np.array([[45, 60, 1.0], [40, 64, 1.5]], dtype=np.float32)
    rois, scores = run_proposal(cls_prob, bbox_deltas, im_info, **(RELEASE if release else ATTRS))
    assert rois.shape == (50, 5) and scores.shape == (50, 1)
    rois, scores = rois.asnumpy(), scores.asnumpy()
    for n in range(2):
        kept = reference_proposals(np.float64(cls_prob[n]), np.float64(bbox_deltas[n]),
                                   im_info[n], 8, (0.5, 1, 2), (2, 4), 60, 0.7, 10, release)
        assert len(kept) >= 25, 'test setup: the reference must keep enough boxes'
        rows = slice(25 * n, 25 * (n + 1))
        np.testing.assert_array_equal(rois[rows, 0], n)
        np.testing.assert_allclose(rois[rows, 1:], [box for box, _ in kept[:25]], atol=1e-3)
        np.testing.assert_allclose(scores[rows, 0], [s for _, s in kept[:25]], rtol=1e-6)


def test_pads_by_repeating_kept_proposals(test_seed):
    rng = np.random.RandomState(test_seed + 1)
    fh, fw, num_anchors = 3, 4, 6
    cls_prob, bbox_deltas = random_inputs(rng, 1, num_anchors, fh, fw)
    im_info = np.array([[30, 40, 1.0]], dtype=np.float32)
    attrs = dict(ATTRS, rpn_pre_nms_top_n='6000', rpn_post_nms_top_n='100', threshold='0.3',
                 rpn_min_size='4')
    kept = reference_proposals(np.float64(cls_prob[0]), np.float64(bbox_deltas[0]), im_info[0],
                               8, (0.5, 1, 2), (2, 4), 6000, 0.3, 4)
    assert 1 <= len(kept) < 100, 'test setup: fewer survivors than rpn_post_nms_top_n'
    np.random.seed(test_seed + 5)
    rois, scores = [out.asnumpy() for out in run_proposal(cls_prob, bbox_deltas, im_info, **attrs)]
    assert rois.shape == (100, 5) and scores.shape == (100, 1)
    np.testing.assert_allclose(rois[:len(kept), 1:], [box for box, _ in kept], atol=1e-3)
    kept_boxes = np.array([box for box, _ in kept])
    for row in rois[len(kept):, 1:]:  # every padded row repeats a kept proposal
        assert np.abs(kept_boxes - row).max(axis=1).min() < 1e-3
    np.random.seed(test_seed + 5)
    again = run_proposal(cls_prob, bbox_deltas, im_info, **attrs)[0].asnumpy()
    np.testing.assert_array_equal(rois, again)  # padding follows the NumPy global seed


def test_all_boxes_too_small_still_gives_full_output(test_seed):
    rng = np.random.RandomState(test_seed + 2)
    cls_prob, bbox_deltas = random_inputs(rng, 1, 6, 2, 2)
    im_info = np.array([[20, 20, 1.0]], dtype=np.float32)
    rois = run_proposal(cls_prob, bbox_deltas, im_info,
                        **dict(ATTRS, rpn_min_size='1000', output_score='False'))
    assert rois.shape == (25, 5)
    assert np.isfinite(rois.asnumpy()).all()


def test_symbol_shapes_and_zero_gradient(test_seed):
    num_anchors, fh, fw = 6, 3, 4
    data = [mx.sym.Variable(name) for name in ('cls_prob', 'bbox_pred', 'im_info')]
    sym = mx.sym.Custom(*data, op_type='fcis_proposal', name='rois',
                        **dict(ATTRS, output_score='False'))
    shapes = dict(cls_prob=(1, 2 * num_anchors, fh, fw), bbox_pred=(1, 4 * num_anchors, fh, fw),
                  im_info=(1, 3))
    _, out_shapes, _ = sym.infer_shape(**shapes)
    assert out_shapes == [(25, 5)]
    bad = dict(shapes, bbox_pred=(1, 4 * num_anchors + 1, fh, fw))
    with pytest.raises(mx.base.MXNetError):
        sym.infer_shape(**bad)
    prop = fcis.operators.proposal.ProposalProp(**ATTRS)
    with pytest.raises(ValueError, match='bbox_pred has shape'):
        prop.infer_shape([bad['cls_prob'], bad['bbox_pred'], bad['im_info']])
    rng = np.random.RandomState(test_seed + 3)
    cls_prob, bbox_deltas = random_inputs(rng, 1, num_anchors, fh, fw)
    exe = sym.simple_bind(mx.cpu(), grad_req='write', **shapes)
    exe.forward(is_train=True, cls_prob=cls_prob, bbox_pred=bbox_deltas,
                im_info=np.array([[30, 40, 1]]))
    exe.backward(mx.nd.ones((25, 5)))
    for grad in exe.grad_arrays:
        assert not grad.asnumpy().any()


@pytest.mark.parametrize('max_keep, thresh, num_boxes', [
    (1, 0.7, 3000), (300, 0.7, 3000), (5000, 0.7, 3000),  # first prefix / whole set
    (150, 0.1, 20000), (200, 0.1, 20000)])  # prefixes 1024 -> 4096 -> 16384 (-> 20000)
def test_nms_on_prefixes_equals_full_nms(max_keep, thresh, num_boxes):
    from lib.nms.nms import nms
    from fcis.operators.proposal import nms_first
    rng = np.random.RandomState(7)  # a draw whose kept boxes need every prefix size
    xy = rng.uniform(0, 300, size=(num_boxes, 2))
    wh = rng.uniform(10, 80, size=(num_boxes, 2))
    scores = np.sort(rng.rand(num_boxes))[::-1]  # already by descending score, as in the op
    dets = np.hstack([xy, xy + wh, scores[:, None]])
    full = np.asarray(nms(dets, thresh))
    if thresh < 0.5:
        assert full.size > 200 and (full < 4096).sum() < 150, 'test setup: prefixes must grow'
    np.testing.assert_array_equal(nms_first(dets, thresh, max_keep), full[:max_keep])


def test_non_finite_network_outputs_still_give_proposals(test_seed):
    """A diverged RPN (NaN scores, inf deltas) must not break NMS: non-finite proposals
    fall back to their clipped anchors and rank last."""
    from fcis.operators.proposal import propose_one_image
    from lib.rpn import generate_anchors
    from lib.rpn.generate_anchors import shifted_anchors
    rng = np.random.RandomState(test_seed)
    num_anchors, fh, fw = 3, 4, 5
    base = generate_anchors(base_size=16, ratios=(0.5, 1, 2), scales=(2,))
    anchors = shifted_anchors(fh, fw, 16, base)
    scores = rng.rand(num_anchors, fh, fw).astype(np.float32)
    deltas = (rng.randn(4 * num_anchors, fh, fw) * 0.1).astype(np.float32)
    scores[0, 0, 0] = np.nan
    deltas[:, 1, 1] = np.inf
    params = dict(pre_nms_top_n=100, post_nms_top_n=10, threshold=0.7, min_size=1,
                  min_size_scaled=True, delta_clip=True)
    boxes, out_scores = propose_one_image(scores, deltas, anchors, np.array([64, 80, 1.0]), params)
    assert boxes.shape == (10, 4) and np.isfinite(boxes).all()
    assert np.isfinite(out_scores).all() and (out_scores[:5] >= 0).all()


@pytest.mark.parametrize('release', [False, True])
def test_min_size_at_scale_1_6(release):
    """Anchors of side 15, 20 and 32 px at cell (2, 2), zero deltas, RPN_MIN_SIZE 16 at image
    scale 1.6: the release keeps sides >= 16 input pixels (20 and 32), the scaled rule only
    sides >= 25.6 (32)."""
    fh = fw = 6
    cls_prob = np.zeros((1, 6, fh, fw), dtype=np.float32)
    cls_prob[0, 3:] = 0.1                                   # foreground of every anchor
    cls_prob[0, 3:, 2, 2] = [0.9, 0.8, 0.7]                # the anchors of side 15, 20, 32
    deltas = np.zeros((1, 12, fh, fw), dtype=np.float32)
    im_info = np.array([[96, 96, 1.6]], dtype=np.float32)
    attrs = dict(RELEASE if release else ATTRS, feat_stride='16', scales='(0.9375, 1.25, 2)',
                 ratios='(1,)', rpn_min_size='16', rpn_pre_nms_top_n='1000',
                 rpn_post_nms_top_n='5', threshold='1.0', output_score='False')
    rois = run_proposal(cls_prob, deltas, im_info, **attrs).asnumpy()
    widths, heights = rois[:, 3] - rois[:, 1] + 1, rois[:, 4] - rois[:, 2] + 1
    assert widths[0] == heights[0] == (20 if release else 32)  # best kept anchor of (2, 2)
    assert min(widths.min(), heights.min()) >= (16 if release else 25.6)


def test_anchor_grid_of_600x1000_input_is_37x62():
    from fcis.operators.proposal import anchor_grid_shape
    im_info = np.array([600, 1000, 1.6])
    assert anchor_grid_shape((38, 63), im_info, 16, 'image') == (37, 62)
    assert anchor_grid_shape((38, 63), im_info, 16, 'feature') == (38, 63)
    assert anchor_grid_shape((30, 40), im_info, 16, 'image') == (30, 40)  # never beyond the map


@pytest.mark.parametrize('release', [False, True])
def test_last_row_and_column_never_propose_in_release(release):
    """A 38x63 map of a 600x1000 image, one 16 px anchor per cell: the best scores sit in
    the last row (cell (37, 10)) and the last column (cell (5, 62))."""
    cls_prob = np.full((1, 2, 38, 63), 0.2, dtype=np.float32)
    cls_prob[0, 1, 37, 10] = 0.99
    cls_prob[0, 1, 5, 62] = 0.98
    deltas = np.zeros((1, 4, 38, 63), dtype=np.float32)
    im_info = np.array([[600, 1000, 1.0]], dtype=np.float32)
    attrs = dict(RELEASE if release else ATTRS, feat_stride='16', scales='(1,)', ratios='(1,)',
                 rpn_min_size='1', rpn_pre_nms_top_n='6000', rpn_post_nms_top_n='20',
                 threshold='0.7')
    rois, scores = [out.asnumpy() for out in run_proposal(cls_prob, deltas, im_info, **attrs)]
    last_row = [160, 592, 175, 599]                          # y 592..607 clipped to 599
    last_col = [992, 80, 999, 95]                            # x 992..1007 clipped to 999
    if release:
        assert scores.max() == pytest.approx(0.2)
        assert not (rois[:, 2] >= 592).any() and not (rois[:, 1] >= 992).any()
    else:
        np.testing.assert_array_equal(rois[0, 1:], last_row)
        np.testing.assert_array_equal(rois[1, 1:], last_col)


def test_delta_clip_only_when_asked():
    """dw = 5 on a 16 px anchor: unclipped the box is 16 e^5 = 2374.6 px wide, clipped at
    log(1000/16) it is 1000 px wide (both centred on x = 7.5, then clipped to the image)."""
    from fcis.operators.box_parser import parse_boxes
    from fcis.operators.proposal import decode_boxes
    anchors = np.array([[0.0, 0.0, 15.0, 15.0]])
    deltas = np.array([[0.0, 0.0, 5.0, 0.0]])
    im_info = np.array([100.0, 5000.0, 1.0])
    free = decode_boxes(anchors, deltas, im_info, delta_clip=False)
    clipped = decode_boxes(anchors, deltas, im_info, delta_clip=True)
    assert free[0, 2] == pytest.approx(7.5 + 0.5 * (16 * math.exp(5) - 1))
    assert clipped[0, 2] == pytest.approx(7.5 + 0.5 * (1000 - 1))
    assert free[0, 0] == clipped[0, 0] == 0
    rois = np.hstack([[[0.0]], anchors])
    normalized = np.hstack([np.zeros((1, 4)), deltas / np.array([0.2, 0.2, 0.5, 0.5])])
    for clip, expected in ((False, free), (True, clipped)):
        out = parse_boxes(rois, normalized, im_info, np.zeros(4), np.array([0.2, 0.2, 0.5, 0.5]),
                          delta_clip=clip)
        np.testing.assert_allclose(out[0, 1:], expected[0], rtol=1e-6)
