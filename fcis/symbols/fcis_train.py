"""FCIS training symbol: trunk, RPN with its losses, proposals, ROI sampling, and the
position-sensitive class / mask / box losses (optionally with OHEM).

Inputs and outputs are listed in ``fcis.symbols.names``.
"""
import mxnet as mx

from . import heads, losses, ops
from .names import TRAIN_OUTPUT_NAMES
from .resnet_v1 import resnet_v1_trunk


def _rpn_part(conv4, im_info, args):
    """RPN head, its losses and the training proposals.

    Returns (rpn_cls_prob, rpn_bbox_loss, rpn_label, rois (N*post, 5)).
    """
    rpn_label = mx.sym.Variable('label')
    rpn_bbox_target = mx.sym.Variable('bbox_target')
    rpn_bbox_weight = mx.sym.Variable('bbox_weight')
    rpn_cls_score, rpn_bbox_pred = heads.rpn_head(conv4, args)
    rpn_cls_prob, rpn_bbox_loss = losses.rpn_losses(
        rpn_cls_score, rpn_bbox_pred, rpn_label, rpn_bbox_target, rpn_bbox_weight,
        args.train.batch_images, args.train.rpn_batch_size)
    # Proposals take no gradient back into the RPN.
    prob = mx.sym.BlockGrad(heads.rpn_cls_prob_for_proposal(rpn_cls_score, args))
    deltas = mx.sym.BlockGrad(rpn_bbox_pred, name='rpn_bbox_pred_nograd')
    rois = ops.proposal('rois', prob, deltas, im_info, args, args.proposal)
    return rpn_cls_prob, rpn_bbox_loss, rpn_label, rois


def _ohem(cls_score, seg_pred, bbox_pred, label, mask_target, bbox_target, bbox_weight, args):
    """Select the hardest ROIs; returns (label, mask_target, bbox_weight) with the others
    set to -1 / -1 / 0."""
    cls_prob = mx.sym.SoftmaxActivation(mx.sym.BlockGrad(cls_score), name='cls_prob_ohem')
    seg_prob = mx.sym.SoftmaxActivation(mx.sym.BlockGrad(seg_pred), mode='channel',
                                        name='seg_prob_ohem')  # (B, 2, S, S)
    selected = ops.box_annotator_ohem(
        'box_annotator_ohem', cls_prob, seg_prob, mx.sym.BlockGrad(bbox_pred), label,
        mask_target, bbox_target, bbox_weight, args)
    return selected[0], selected[1], selected[2]


def _rois_per_batch(t):
    """ROIs per batch that back-propagate, or None when only known at run time."""
    per_image = t.batch_rois_ohem if t.enable_ohem else t.batch_rois
    return per_image * t.batch_images if per_image > 0 else None


def get_train_symbol(args):
    """Build the training symbol for an FCISArgs ``args`` (see fcis.symbols.names)."""
    args.check()
    ops.ensure_operators()
    t = args.train
    data = mx.sym.Variable('data')
    im_info = mx.sym.Variable('im_info')
    gt_boxes = mx.sym.Variable('gt_boxes')
    gt_masks = mx.sym.Variable('gt_masks')

    conv4, conv5 = resnet_v1_trunk(data, args.trunk)
    rpn_cls_prob, rpn_bbox_loss, rpn_label, proposals = _rpn_part(conv4, im_info, args)

    target = ops.proposal_target('proposal_target', proposals, gt_boxes, gt_masks, args)
    rois, label, bbox_target, bbox_weight, mask_target = [target[i] for i in range(5)]

    fcis_cls_seg, fcis_bbox = heads.fcis_head(conv5, args)
    cls_seg = heads.psroi_pool_cls_seg(fcis_cls_seg, rois, args)  # (B, 2C, S, S)
    bbox_pred = heads.psroi_pool_bbox(fcis_bbox, rois, args, name='bbox_pred')  # (B, 8)
    cls_score = heads.cls_score_from_maps(cls_seg, args)  # (B, C)
    seg_pred = ops.group_pick_by_label('seg_pred', cls_seg, label, args.num_classes)

    if t.enable_ohem:
        label, mask_target, bbox_weight = _ohem(cls_score, seg_pred, bbox_pred, label,
                                                mask_target, bbox_target, bbox_weight, args)
    per_batch = _rois_per_batch(t)
    w_cls, w_seg, w_box = t.loss_weights
    cls_prob = losses.cls_loss(cls_score, label, w_cls)
    seg_prob = losses.seg_loss(seg_pred, mask_target, w_seg, per_batch, args.pooled_size,
                               t.seg_pixel_reduction)
    bbox_loss = losses.bbox_loss(bbox_pred, bbox_target, bbox_weight, w_box, per_batch)

    outputs = {
        'rpn_cls_prob': rpn_cls_prob,
        'rpn_bbox_loss': rpn_bbox_loss,
        'cls_prob': cls_prob,
        'bbox_loss': bbox_loss,
        'seg_prob': seg_prob,
        'rpn_label': mx.sym.BlockGrad(rpn_label, name='rpn_label'),
        'rcnn_label': mx.sym.BlockGrad(label, name='rcnn_label'),
        'mask_target': mx.sym.BlockGrad(mask_target, name='mask_target'),
    }
    return mx.sym.Group([outputs[name] for name in TRAIN_OUTPUT_NAMES])
