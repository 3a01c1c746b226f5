"""'BoxAnnotatorOHEM': keeps exactly the ROIs with the top-k losses (losses recomputed here)."""
import math

import mxnet as mx
import numpy as np

import fcis.operators  # noqa: F401  (registers the ops)

NUM_ROIS, NUM_CLASSES, SIDE = 20, 4, 5


def loop_loss(cls_prob, seg_prob, bbox_pred, label, mask_target, bbox_target, bbox_weight,
              mask_weight, cls_weight=1.0, box_weight=1.0):
    """One ROI's loss, written with plain loops."""
    loss = -cls_weight * math.log(cls_prob[int(label)])
    if label > 0:
        total, count = 0.0, 0
        for y in range(SIDE):
            for x in range(SIDE):
                if mask_target[y, x] >= 0:
                    total -= math.log(seg_prob[int(mask_target[y, x]), y, x])
                    count += 1
        loss += mask_weight * (total / count if count else 0.0)
    for j in range(8):
        diff = abs(bbox_pred[j] - bbox_target[j])
        loss += box_weight * bbox_weight[j] * (0.5 * diff * diff if diff < 1 else diff - 0.5)
    return loss


def random_batch(rng):
    logits = rng.randn(NUM_ROIS, NUM_CLASSES)
    cls_prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    seg_logits = rng.randn(NUM_ROIS, 2, SIDE, SIDE)
    seg_prob = np.exp(seg_logits) / np.exp(seg_logits).sum(axis=1, keepdims=True)
    bbox_pred = rng.randn(NUM_ROIS, 8)
    label = rng.randint(0, NUM_CLASSES, size=NUM_ROIS).astype(np.float64)
    label[:3] = [0, 1, 2]  # at least one background and two foreground ROIs
    mask_target = rng.randint(0, 2, size=(NUM_ROIS, SIDE, SIDE)).astype(np.float64)
    mask_target[label == 0] = -1
    mask_target[1, :2] = -1  # some ignored pixels in a foreground ROI
    bbox_target = 2 * rng.randn(NUM_ROIS, 8)  # both branches of smooth L1
    bbox_weight = np.zeros((NUM_ROIS, 8))
    bbox_weight[label > 0, 4:] = 1
    return [cls_prob, seg_prob, bbox_pred, label, mask_target, bbox_target, bbox_weight]


def run(inputs, **attrs):
    params = dict(num_classes=str(NUM_CLASSES), roi_per_img='7', mask_loss_weight='10')
    params.update(attrs)
    outs = mx.nd.Custom(*[mx.nd.array(x) for x in inputs], op_type='BoxAnnotatorOHEM', **params)
    return [out.asnumpy() for out in outs]


def test_keeps_exactly_the_top_k_losses(test_seed):
    inputs = random_batch(np.random.RandomState(test_seed))
    losses = np.array([loop_loss(*[x[i] for x in inputs], mask_weight=10)
                       for i in range(NUM_ROIS)])
    top = set(np.argsort(losses)[::-1][:7].tolist())
    assert sorted(losses)[-7] > sorted(losses)[-8], 'test setup: no tie at the boundary'
    labels_ohem, masks_ohem, weights_ohem = run(inputs)
    assert labels_ohem.shape == (NUM_ROIS,) and masks_ohem.shape == (NUM_ROIS, SIDE, SIDE)
    assert weights_ohem.shape == (NUM_ROIS, 8)
    label, mask_target, bbox_weight = inputs[3], inputs[4], inputs[6]
    for i in range(NUM_ROIS):
        if i in top:
            assert labels_ohem[i] == label[i]
            np.testing.assert_array_equal(masks_ohem[i], mask_target[i])
            np.testing.assert_array_equal(weights_ohem[i], bbox_weight[i])
        else:
            assert labels_ohem[i] == -1
            np.testing.assert_array_equal(masks_ohem[i], -1)
            np.testing.assert_array_equal(weights_ohem[i], 0)


def test_mask_weight_changes_the_selection(test_seed):
    inputs = random_batch(np.random.RandomState(test_seed + 1))
    for weight in (0.0, 100.0):
        losses = np.array([loop_loss(*[x[i] for x in inputs], mask_weight=weight)
                           for i in range(NUM_ROIS)])
        kept = np.where(run(inputs, mask_loss_weight=str(weight))[0] != -1)[0]
        assert set(kept.tolist()) == set(np.argsort(losses)[::-1][:7].tolist())


def test_ties_keep_lower_indices_and_k_larger_than_batch(test_seed):
    inputs = [np.repeat(x[:1], NUM_ROIS, axis=0)
              for x in random_batch(np.random.RandomState(test_seed + 2))]
    labels_ohem = run(inputs)[0]
    np.testing.assert_array_equal(labels_ohem[:7], inputs[3][:7])
    np.testing.assert_array_equal(labels_ohem[7:], -1)
    labels_all = run(inputs, roi_per_img='128')[0]
    np.testing.assert_array_equal(labels_all, inputs[3])


def test_symbol_shapes():
    names = ['cls_prob', 'seg_prob', 'bbox_pred', 'labels', 'mask_targets', 'bbox_targets',
             'bbox_weights']
    sym = mx.sym.Custom(*[mx.sym.Variable(n) for n in names], op_type='BoxAnnotatorOHEM',
                        num_classes='81', roi_per_img='128')
    shapes = dict(cls_prob=(300, 81), seg_prob=(300, 2, 21, 21), bbox_pred=(300, 8),
                  labels=(300,), mask_targets=(300, 21, 21), bbox_targets=(300, 8),
                  bbox_weights=(300, 8))
    _, out_shapes, _ = sym.infer_shape(**shapes)
    assert out_shapes == [(300,), (300, 21, 21), (300, 8)]
    assert [name.split('_', 1)[1] for name in sym.list_outputs()] == [
        'labels_ohem', 'mask_targets_ohem', 'bbox_weights_ohem']


def test_class_and_box_loss_weights_enter_the_ranking():
    """Weights (0.2, 10, 3) instead of (1, 10, 1) change which 7 ROIs are hardest."""
    inputs = random_batch(np.random.RandomState(4))  # a draw where the weights matter
    weights = dict(mask_weight=10, cls_weight=0.2, box_weight=3.0)
    losses = np.array([loop_loss(*[x[i] for x in inputs], **weights) for i in range(NUM_ROIS)])
    default = np.array([loop_loss(*[x[i] for x in inputs], mask_weight=10)
                        for i in range(NUM_ROIS)])
    top = set(np.argsort(losses)[::-1][:7].tolist())
    assert top != set(np.argsort(default)[::-1][:7].tolist()), 'test setup: weights matter'
    kept = run(inputs, cls_loss_weight='0.2', bbox_loss_weight='3')[0] != -1
    assert set(np.where(kept)[0].tolist()) == top
