"""FCIS test symbol: proposals, optional second pass (ITER=2), per-ROI class
probabilities, box deltas and the mask of the top foreground class.

Outputs are listed in ``fcis.symbols.names`` (TEST_OUTPUT_NAMES).
"""
import mxnet as mx

from . import heads, ops
from .names import TEST_OUTPUT_NAMES
from .resnet_v1 import resnet_v1_trunk


def _test_rois(fcis_bbox, rpn_cls_score, rpn_bbox_pred, im_info, args):
    """ROIs of all passes and their box deltas.

    ITER=1: rois (N*P, 5) from the proposal layer, P = post-NMS top N.
    ITER=2: those P plus the P boxes moved by their predicted deltas -> (2*N*P, 5).
    Returns (rois, bbox_pred (R, 8)).
    """
    prob = heads.rpn_cls_prob_for_proposal(rpn_cls_score, args)  # (N, 2A, fh, fw)
    rois = ops.proposal('rois_iter1', prob, rpn_bbox_pred, im_info, args, args.proposal)
    bbox_pred = heads.psroi_pool_bbox(fcis_bbox, rois, args, name='bbox_pred_iter1')
    if args.test.iters == 1:
        return rois, bbox_pred
    rois2 = ops.box_parser('rois_iter2', rois, bbox_pred, im_info, args)  # (N*P, 5)
    bbox_pred2 = heads.psroi_pool_bbox(fcis_bbox, rois2, args, name='bbox_pred_iter2')
    rois = mx.sym.concat(rois, rois2, dim=0, name='rois_concat')  # (2*N*P, 5)
    bbox_pred = mx.sym.concat(bbox_pred, bbox_pred2, dim=0, name='bbox_pred_concat')
    return rois, bbox_pred


def trunk_and_heads(data, args):
    """The trunk, RPN head and FCIS head on ``data`` (N, 3, H, W) -> heads.HeadOutputs."""
    conv4, conv5 = resnet_v1_trunk(data, args.trunk)
    rpn_cls_score, rpn_bbox_pred = heads.rpn_head(conv4, args)
    fcis_cls_seg, fcis_bbox = heads.fcis_head(conv5, args)
    return heads.HeadOutputs(rpn_cls_score, rpn_bbox_pred, fcis_cls_seg, fcis_bbox)


def get_test_symbol(args, head_outputs=None):
    """Build the test symbol for an FCISArgs ``args`` (see fcis.symbols.names).

    head_outputs: None builds the trunk and heads on the input 'data'
    (:func:`trunk_and_heads`); a heads.HeadOutputs of symbols builds only what follows the
    heads, on those symbols and 'im_info' (e.g. variables, to run that part alone).
    """
    args.check()
    ops.ensure_operators()
    if head_outputs is None:
        head_outputs = trunk_and_heads(mx.sym.Variable('data'), args)
    im_info = mx.sym.Variable('im_info')
    rois, bbox_pred = _test_rois(head_outputs.fcis_bbox, head_outputs.rpn_cls_score,
                                 head_outputs.rpn_bbox_pred, im_info, args)

    cls_seg = heads.psroi_pool_cls_seg(head_outputs.fcis_cls_seg, rois, args)  # (R, 2C, S, S)
    cls_score = heads.cls_score_from_maps(cls_seg, args)  # (R, C)
    cls_prob = mx.sym.softmax(cls_score, axis=1, name='cls_prob')  # (R, C)
    # The softmax of each class's (outside, inside) pair is computed per pixel, so picking
    # the top class first and taking the softmax of its pair gives the same bits as the
    # softmax of all C pairs followed by the pick, at 1/C of the cost.
    seg_picked = ops.group_pick_by_score('seg_pick', cls_seg, cls_prob,
                                         args.num_classes)  # (R, 2, S, S)
    seg_pred = ops.group_softmax('seg_pred', seg_picked, 1)  # (R, 2, S, S)

    outputs = {
        'rois': mx.sym.identity(rois, name='rois'),
        'cls_prob': cls_prob,
        'bbox_pred': mx.sym.identity(bbox_pred, name='bbox_pred'),
        'seg_pred': seg_pred,
    }
    return mx.sym.Group([outputs[name] for name in TEST_OUTPUT_NAMES])
