"""RPN head, FCIS head and the per-ROI assembly of class scores, boxes and masks.

New (not pretrained) layers, initialized N(0, 0.01) with zero bias (fcis.core.params):
``NEW_LAYERS``.
"""
from typing import Any, NamedTuple

import mxnet as mx

from . import ops

NEW_LAYERS = ('rpn_conv_3x3', 'rpn_cls_score', 'rpn_bbox_pred',
              'conv_new_1', 'fcis_cls_seg', 'fcis_bbox')


class HeadOutputs(NamedTuple):
    """The symbols of the RPN and FCIS head outputs, the inputs of everything after them:
    rpn_cls_score (N, 2A, fh, fw), rpn_bbox_pred (N, 4A, fh, fw) (:func:`rpn_head`),
    fcis_cls_seg (N, k*k*2C, h, w), fcis_bbox (N, k*k*8, h, w) (:func:`fcis_head`)."""
    rpn_cls_score: Any
    rpn_bbox_pred: Any
    fcis_cls_seg: Any
    fcis_bbox: Any


def conv1x1(data, name, num_filter, lr_mult=None):
    """1x1 convolution with bias. (N, Cin, H, W) -> (N, num_filter, H, W)."""
    kwargs = {}
    if lr_mult is not None:
        kwargs['weight'] = mx.sym.Variable(name + '_weight', lr_mult=lr_mult)
        kwargs['bias'] = mx.sym.Variable(name + '_bias', lr_mult=lr_mult)
    return mx.sym.Convolution(data=data, name=name, num_filter=num_filter, kernel=(1, 1),
                              **kwargs)


def rpn_head(conv4, args):
    """RPN on the res4 feature (N, C4, fh, fw).

    Returns rpn_cls_score (N, 2A, fh, fw) (channels: A background, then A foreground;
    anchor a's channels are a and A + a) and rpn_bbox_pred (N, 4A, fh, fw) (channel 4a + k).
    """
    a = args.num_anchors
    x = mx.sym.Convolution(data=conv4, name='rpn_conv_3x3', num_filter=args.rpn_conv_channels,
                           kernel=(3, 3), pad=(1, 1))
    x = mx.sym.Activation(x, act_type='relu', name='rpn_relu')
    rpn_cls_score = conv1x1(x, 'rpn_cls_score', 2 * a)
    rpn_bbox_pred = conv1x1(x, 'rpn_bbox_pred', 4 * a)
    return rpn_cls_score, rpn_bbox_pred


def rpn_cls_prob_for_proposal(rpn_cls_score, args):
    """Softmax of bg/fg per anchor, in the layout the proposal layer reads.

    rpn_cls_score (N, 2A, fh, fw) -> (N, 2, A*fh, fw) -> softmax over axis 1
    -> (N, 2A, fh, fw).
    """
    score = mx.sym.Reshape(rpn_cls_score, shape=(0, 2, -1, 0),
                           name='rpn_cls_score_reshape_act')  # (N, 2, A*fh, fw)
    prob = mx.sym.SoftmaxActivation(score, mode='channel', name='rpn_cls_act')
    return mx.sym.Reshape(prob, shape=(0, 2 * args.num_anchors, -1, 0),
                          name='rpn_cls_act_reshape')  # (N, 2A, fh, fw)


def fcis_head(conv5, args):
    """Position-sensitive score maps on the res5 feature (N, C5, h, w).

    Returns fcis_cls_seg (N, k*k*2C, h, w) (channel (c*k + gh)*k + gw of output channel
    c = cls*2 + j, j=1 inside) and fcis_bbox (N, k*k*8, h, w). conv_new_1 has lr multiplier
    ``args.conv_new_lr_mult`` (network.CONV_NEW_LR_MULT, 3 as in the paper); fcis_cls_seg
    ``args.cls_seg_lr_mult`` (network.FCIS_CLS_SEG_LR_MULT, 1 = none as in the paper: its
    class scores average k*k group votes, so each group's weights get 1/k^2 of the class
    gradient).
    """
    k2 = args.group_size * args.group_size
    x = conv1x1(conv5, 'conv_new_1', args.conv_new_channels, lr_mult=args.conv_new_lr_mult)
    x = mx.sym.Activation(x, act_type='relu', name='conv_new_1_relu')
    lr_mult = args.cls_seg_lr_mult if args.cls_seg_lr_mult != 1.0 else None
    fcis_cls_seg = conv1x1(x, 'fcis_cls_seg', k2 * 2 * args.num_classes, lr_mult=lr_mult)
    fcis_bbox = conv1x1(x, 'fcis_bbox', k2 * 4 * 2)
    return fcis_cls_seg, fcis_bbox


def psroi_pool_cls_seg(fcis_cls_seg, rois, args):
    """(N, k*k*2C, h, w), rois (R, 5) -> per-ROI inside/outside maps (R, 2C, S, S)."""
    return ops.psroi_pool('psroipool_cls_seg', fcis_cls_seg, rois,
                          output_dim=2 * args.num_classes, pooled_size=args.pooled_size,
                          group_size=args.group_size, spatial_scale=1.0 / args.rcnn_feat_stride)


def psroi_pool_bbox(fcis_bbox, rois, args, name='bbox_pred'):
    """(N, k*k*8, h, w), rois (R, 5) -> class-agnostic box deltas (R, 8) ([bg 4, fg 4]).

    PSROIPooling ('psroipool_<name>') to (R, 8, S, S), then the mean over the S x S bins
    (native SpatialMean: the bits of MXNet's ``mean(axis=(2, 3))``, several times faster).
    """
    pooled = ops.psroi_pool('psroipool_' + name, fcis_bbox, rois, output_dim=8,
                            pooled_size=args.pooled_size, group_size=args.group_size,
                            spatial_scale=1.0 / args.rcnn_feat_stride)  # (R, 8, S, S)
    return ops.spatial_mean(name, pooled)  # (R, 8)


def cls_score_from_maps(psroipool_cls_seg, args):
    """(R, 2C, S, S) -> class scores (R, C): spatial average of Group_Max."""
    x = ops.group_max('psroipool_cls', psroipool_cls_seg, args.num_classes)  # (R, C, S, S)
    return ops.spatial_mean('cls_score', x)  # (R, C), see psroi_pool_bbox
