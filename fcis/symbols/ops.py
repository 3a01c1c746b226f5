"""The project's operators as symbols: native ``PSROIPooling`` / ``ChannelOperator`` /
``SpatialMean`` (from ``lib/ops``) and the Python CustomOps of ``fcis.operators``.

Every symbol builder gets its operators through this module, so the operator interface
lives in one place. ``ensure_operators()`` loads the native library and registers the
CustomOps; it is called by the symbol builders before any operator is created.
"""
import mxnet as mx

from lib import ops as native

_LOADED = []


def ensure_operators():
    """Load lib/ops (native) and import fcis.operators (CustomOp registration), once."""
    if _LOADED:
        return
    native.load_ops()
    import fcis.operators  # noqa: F401  (registers the CustomOps)
    _LOADED.append(True)


def psroi_pool(name, data, rois, output_dim, pooled_size, group_size, spatial_scale):
    """Position-sensitive ROI pooling (native ``PSROIPooling``).

    data (N, output_dim*group_size^2, H, W), rois (R, 5) -> (R, output_dim, pooled, pooled).
    """
    return native.psroi_pooling(data, rois, spatial_scale=spatial_scale, output_dim=output_dim,
                                pooled_size=pooled_size, group_size=group_size, name=name)


def spatial_mean(name, data):
    """(R, C, S, S) -> (R, C): the mean over the S x S bins (native ``SpatialMean``, the
    arithmetic of MXNet's ``mean(axis=(2, 3))``)."""
    return native.spatial_mean(data, name=name)


def group_max(name, data, num_classes):
    """(R, 2C, S, S) -> (R, C, S, S): max over each class's (outside, inside) pair."""
    return native.group_max(data, num_classes, name=name)


def group_softmax(name, data, num_classes):
    """(R, 2C, S, S) -> (R, 2C, S, S): softmax within each class's (outside, inside) pair."""
    return native.group_softmax(data, num_classes, name=name)


def group_pick_by_label(name, data, label, num_classes):
    """(R, 2C, S, S), label (R,) -> (R, 2, S, S): the two channels of class ``label``."""
    return native.group_pick(data, label, num_classes, pick_type='Label_Pick', name=name)


def group_pick_by_score(name, data, scores, num_classes):
    """(R, 2C, S, S), scores (R, C) -> (R, 2, S, S): the two channels of the class with the
    highest score among 1..C-1 (the background is never picked)."""
    return native.group_pick(data, scores, num_classes, pick_type='Score_Pick', name=name)


def _custom(op_type, name, inputs, attrs):
    """mx.sym.Custom of the CustomOp ``op_type`` on the symbols ``inputs`` (dict) with the
    string ``attrs``, checked first (fcis.operators.check_attrs: ValueError naming the
    attribute)."""
    from fcis.operators import check_attrs
    check_attrs(op_type, attrs)
    return mx.sym.Custom(name=name, op_type=op_type, **inputs, **attrs)


def _tuple_attr(values):
    """(8, 16, 32) -> '(8, 16, 32)' (CustomOp attributes are strings)."""
    return str(tuple(values))


def proposal(name, cls_prob, bbox_pred, im_info, args, prop):
    """ROIs from the RPN. cls_prob (N, 2A, fh, fw) (first A background), bbox_pred
    (N, 4A, fh, fw), im_info (N, 3) -> rois (N*post_nms_top_n, 5) [batch, x1, y1, x2, y2].

    ``args`` is an FCISArgs (anchors, stride, delta clip), ``prop`` a ProposalArgs.
    contrib.Proposal (cxx_proposal) scales the min size and uses the whole map.
    """
    if prop.cxx_proposal:
        return mx.sym.contrib.Proposal(
            cls_prob=cls_prob, bbox_pred=bbox_pred, im_info=im_info, name=name,
            feature_stride=args.rpn_feat_stride, scales=tuple(args.anchor_scales),
            ratios=tuple(args.anchor_ratios), rpn_pre_nms_top_n=prop.pre_nms_top_n,
            rpn_post_nms_top_n=prop.post_nms_top_n, threshold=prop.nms_thresh,
            rpn_min_size=prop.min_size)
    return _custom('fcis_proposal', name, dict(
        cls_prob=cls_prob, bbox_pred=bbox_pred, im_info=im_info), dict(
        feat_stride=str(args.rpn_feat_stride),
        scales=_tuple_attr(args.anchor_scales), ratios=_tuple_attr(args.anchor_ratios),
        rpn_pre_nms_top_n=str(prop.pre_nms_top_n), rpn_post_nms_top_n=str(prop.post_nms_top_n),
        threshold=str(prop.nms_thresh), rpn_min_size=str(prop.min_size),
        min_size_scaled=str(prop.min_size_scaled), anchor_grid=prop.anchor_grid,
        delta_clip=str(args.bbox_delta_clip), output_score='False'))


def proposal_target(name, rois, gt_boxes, gt_masks, args):
    """Sample training ROIs and their targets (``args`` an FCISArgs).

    rois (R, 5), gt_boxes (1, K, 5), gt_masks (1, K, H, W) -> Group of rois (B, 5),
    label (B,), bbox_target (B, 8), bbox_weight (B, 8), mask_target (B, S, S).
    """
    t = args.train
    return _custom('fcis_proposal_target', name, dict(
        rois=rois, gt_boxes=gt_boxes, gt_masks=gt_masks), dict(
        num_classes=str(args.num_classes),
        batch_images=str(t.batch_images), batch_rois=str(t.batch_rois),
        sampling=t.roi_sampling, gap_from_all=str(t.gap_from_all),
        fg_fraction=str(t.fg_fraction), fg_thresh=str(t.fg_thresh),
        bg_thresh_hi=str(t.bg_thresh_hi), bg_thresh_lo=str(t.bg_thresh_lo),
        bbox_means=_tuple_attr(t.bbox_means), bbox_stds=_tuple_attr(t.bbox_stds),
        mask_size=str(args.pooled_size), binary_thresh=str(t.binary_thresh)))


def box_annotator_ohem(name, cls_prob, seg_prob, bbox_pred, labels, mask_targets,
                       bbox_targets, bbox_weights, args):
    """Online hard example mining: keep the ``batch_rois_ohem`` ROIs with the largest loss.

    Returns a Group of labels (B,), mask_targets (B, S, S), bbox_weights (B, 8) where the
    other ROIs get -1 / -1 / 0.
    """
    t = args.train
    return _custom('BoxAnnotatorOHEM', name, dict(
        cls_prob=cls_prob, seg_prob=seg_prob, bbox_pred=bbox_pred, labels=labels,
        mask_targets=mask_targets, bbox_targets=bbox_targets, bbox_weights=bbox_weights), dict(
        num_classes=str(args.num_classes),
        roi_per_img=str(t.batch_rois_ohem), cls_loss_weight=str(t.loss_weights[0]),
        mask_loss_weight=str(t.loss_weights[1]), bbox_loss_weight=str(t.loss_weights[2])))


def box_parser(name, rois, bbox_pred, im_info, args):
    """Second-pass ROIs: rois (R, 5) moved by the foreground deltas of bbox_pred (R, 8)
    (normalized by ``args.test`` means/stds) and clipped to the image -> (R, 5)."""
    return _custom('fcis_box_parser', name, dict(
        rois=rois, bbox_pred=bbox_pred, im_info=im_info), dict(
        bbox_means=_tuple_attr(args.test.bbox_means), bbox_stds=_tuple_attr(args.test.bbox_stds),
        delta_clip=str(args.bbox_delta_clip)))
