"""'BoxAnnotatorOHEM': online hard example mining over the FCIS ROIs of one image.

Every ROI gets a loss = cls_loss_weight * class cross-entropy + mask_loss_weight * mean
mask cross-entropy (over its valid mask pixels; 0 for non-foreground ROIs) +
bbox_loss_weight * smooth-L1 (sigma 1) box loss weighted by bbox_weights (the weights are
TRAIN.LOSS_WEIGHTS, as the original release ranks the ROIs). The roi_per_img ROIs with the largest loss are kept (equal
losses: lower index first); the others get label -1, mask target -1 and box weight 0, so
the losses downstream ignore them.
"""
import mxnet as mx
import numpy as np

from lib.utils.ndarray_copy import assign_array
from lib.utils.ranking import descending_order
from fcis.operators._attrs import parse_float, parse_int

OP_NAME = 'BoxAnnotatorOHEM'
EPS = 1e-14  # floor of the probabilities inside log()


def smooth_l1(x):
    """Smooth L1 with sigma 1: 0.5 x^2 where |x| < 1, |x| - 0.5 elsewhere (elementwise)."""
    abs_x = np.abs(x)
    return np.where(abs_x < 1.0, 0.5 * x * x, abs_x - 0.5)


def per_roi_loss(cls_prob, seg_prob, bbox_deltas, labels, mask_targets, bbox_targets,
                 bbox_weights, loss_weights):
    """Loss of every ROI.

    cls_prob: (B, C) class probabilities
    seg_prob: (B, 2, S, S) per-pixel (outside, inside) probabilities
    bbox_deltas: (B, 8) predicted deltas; bbox_targets, bbox_weights: (B, 8)
    labels: (B,) class ids (negative = ignored: no class loss)
    mask_targets: (B, S, S) 0/1, -1 = ignored pixel
    loss_weights: (class, mask, box) weights of the three terms
    returns: (B,) float64 losses.
    """
    num_rois = cls_prob.shape[0]
    label_ids = labels.astype(np.int64)
    picked = cls_prob[np.arange(num_rois), np.clip(label_ids, 0, cls_prob.shape[1] - 1)]
    cls_loss = np.where(label_ids >= 0, -np.log(np.maximum(picked, EPS)), 0.0)  # (B,)

    mask_loss = np.zeros(num_rois)  # (B,): 0 unless foreground
    fg = np.flatnonzero(label_ids > 0)  # (F,)
    if fg.size:
        targets = mask_targets[fg].reshape(fg.size, -1)  # (F, S*S)
        valid = targets >= 0
        inside = targets >= 1  # the target's channel: 1 (inside) for 1, 0 (outside) below
        pixel_prob = np.where(inside, seg_prob[fg, 1].reshape(fg.size, -1),
                              seg_prob[fg, 0].reshape(fg.size, -1))  # (F, S*S)
        pixel_loss = np.where(valid, -np.log(np.maximum(pixel_prob, EPS)), 0.0)
        mask_loss[fg] = pixel_loss.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)

    box_loss = (bbox_weights * smooth_l1(bbox_deltas - bbox_targets)).sum(axis=1)  # (B,)
    cls_weight, mask_weight, box_weight = loss_weights
    return cls_weight * cls_loss + mask_weight * mask_loss + box_weight * box_loss


def hardest_rois(losses, num_keep):
    """Indices of the num_keep largest losses (ties: lower index first).

    losses: (B,) ; returns (min(B, num_keep),) int64 indices, by decreasing loss.
    """
    return descending_order(losses, num_keep)


class BoxAnnotatorOHEMOperator(mx.operator.CustomOp):
    """Forward: mark all but the hardest ROIs as ignored. Backward: zero gradients."""

    def __init__(self, roi_per_img, loss_weights):
        super().__init__()
        self._roi_per_img = roi_per_img
        self._loss_weights = loss_weights

    def forward(self, is_train, req, in_data, out_data, aux):
        (cls_prob, seg_prob, bbox_deltas, labels, mask_targets, bbox_targets,
         bbox_weights) = [array.asnumpy().astype(np.float64) for array in in_data]
        losses = per_roi_loss(cls_prob, seg_prob, bbox_deltas, labels, mask_targets,
                              bbox_targets, bbox_weights, self._loss_weights)
        kept = np.zeros(labels.shape[0], dtype=bool)
        kept[hardest_rois(losses, self._roi_per_img)] = True
        labels_ohem = np.where(kept, labels, -1.0)  # (B,)
        masks_ohem = np.where(kept[:, None, None], mask_targets, -1.0)  # (B, S, S)
        weights_ohem = np.where(kept[:, None], bbox_weights, 0.0)  # (B, 8)
        for i, out in enumerate([labels_ohem, masks_ohem, weights_ohem]):
            assign_array(out_data[i], req[i], out.astype(np.float32))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        for i, grad in enumerate(in_grad):
            self.assign(grad, req[i], 0)


@mx.operator.register(OP_NAME)
class BoxAnnotatorOHEMProp(mx.operator.CustomOpProp):
    """Attributes: num_classes, roi_per_img, cls_loss_weight, mask_loss_weight,
    bbox_loss_weight (strings)."""

    def __init__(self, num_classes, roi_per_img='128', cls_loss_weight='1',
                 mask_loss_weight='10', bbox_loss_weight='1'):
        super().__init__(need_top_grad=False)
        self._num_classes = parse_int(OP_NAME, 'num_classes', num_classes)
        self._roi_per_img = parse_int(OP_NAME, 'roi_per_img', roi_per_img)
        self._loss_weights = (parse_float(OP_NAME, 'cls_loss_weight', cls_loss_weight),
                              parse_float(OP_NAME, 'mask_loss_weight', mask_loss_weight),
                              parse_float(OP_NAME, 'bbox_loss_weight', bbox_loss_weight))
        if self._roi_per_img < 1:
            raise ValueError('%s: roi_per_img=%s must be >= 1' % (OP_NAME, roi_per_img))

    def list_arguments(self):
        return ['cls_prob', 'seg_prob', 'bbox_pred', 'labels', 'mask_targets',
                'bbox_targets', 'bbox_weights']

    def list_outputs(self):
        return ['labels_ohem', 'mask_targets_ohem', 'bbox_weights_ohem']

    def infer_shape(self, in_shape):
        num_rois = in_shape[0][0]
        mask_side = in_shape[1][2]
        expected = [(num_rois, self._num_classes), (num_rois, 2, mask_side, mask_side),
                    (num_rois, 8), (num_rois,), (num_rois, mask_side, mask_side),
                    (num_rois, 8), (num_rois, 8)]
        for name, shape, want in zip(self.list_arguments(), in_shape, expected):
            if tuple(shape) != want:
                raise ValueError('%s: %s has shape %s, expected %s (B ROIs, %d classes, '
                                 '%dx%d masks); reshape it before the op'
                                 % (OP_NAME, name, tuple(shape), want, self._num_classes,
                                    mask_side, mask_side))
        out_shape = [(num_rois,), (num_rois, mask_side, mask_side), (num_rois, 8)]
        return in_shape, out_shape, []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return []

    def create_operator(self, ctx, shapes, dtypes):
        return BoxAnnotatorOHEMOperator(self._roi_per_img, self._loss_weights)
