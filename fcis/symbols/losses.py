"""Loss layers of FCIS (RPN and per-ROI class / mask / box losses).

Gradient scales (per image, B = ROIs per image that back-propagate: TRAIN.BATCH_ROIS, or
TRAIN.BATCH_ROIS_OHEM with OHEM; S = pooled size 21; weights (w_cls, w_seg, w_box)):

* RPN class: softmax, ignore -1, divided by the number of valid anchors.
* RPN box: bbox_weight * smooth_l1(sigma 3), divided by RPN_BATCH_SIZE (256) per image.
* class: softmax, ignore -1, divided by the number of valid ROIs, times w_cls.
* mask: per-pixel 2-way softmax of the positive ROIs (mask target -1 elsewhere), times
  w_seg / B, and per pixel either 1/S^2 ('mean', what the original release computes:
  MXNet's SoftmaxOutput(multi_output=True, normalization='null') divides the gradient by
  the S*S pixels) or 1 ('sum', the loss summed over the pixels).
* box: bbox_weight * smooth_l1(sigma 1), times w_box / B.

When B is not known when the graph is built (BATCH_ROIS = -1 without OHEM), the divisor is
the number of ROIs in the batch ('batch' normalization).
"""
import mxnet as mx

SEG_PIXEL_REDUCTIONS = ('mean', 'sum')


def rpn_losses(rpn_cls_score, rpn_bbox_pred, rpn_label, rpn_bbox_target, rpn_bbox_weight,
               batch_images, rpn_batch_size):
    """RPN losses.

    rpn_cls_score (N, 2A, fh, fw), rpn_label (N, A*fh*fw) (anchor index a*fh*fw + y*fw + x;
    1 fg, 0 bg, -1 ignore), rpn_bbox_pred / rpn_bbox_target / rpn_bbox_weight (N, 4A, fh, fw).
    Returns rpn_cls_prob (N, 2, A*fh, fw) and rpn_bbox_loss (N, 4A, fh, fw).
    """
    score = mx.sym.Reshape(rpn_cls_score, shape=(0, 2, -1, 0),
                           name='rpn_cls_score_reshape')  # (N, 2, A*fh, fw)
    rpn_cls_prob = mx.sym.SoftmaxOutput(data=score, label=rpn_label, multi_output=True,
                                        normalization='valid', use_ignore=True,
                                        ignore_label=-1, name='rpn_cls_prob')
    diff = mx.sym.smooth_l1(rpn_bbox_pred - rpn_bbox_target, scalar=3.0,
                            name='rpn_bbox_loss_l1')
    rpn_bbox_loss = mx.sym.MakeLoss(rpn_bbox_weight * diff, name='rpn_bbox_loss',
                                    grad_scale=1.0 / (rpn_batch_size * batch_images))
    return rpn_cls_prob, rpn_bbox_loss


def cls_loss(cls_score, label, weight):
    """cls_score (B, C), label (B,) (-1 ignored) -> cls_prob (B, C)."""
    return mx.sym.SoftmaxOutput(data=cls_score, label=label, normalization='valid',
                                use_ignore=True, ignore_label=-1, grad_scale=weight,
                                name='cls_prob')


def seg_loss(seg_pred, mask_target, weight, rois_per_batch, pooled_size, pixel_reduction):
    """Mask loss. seg_pred (B, 2, S, S), mask_target (B, S, S) in {0, 1, -1} -> seg_prob
    (B, 2, S, S).

    rois_per_batch: ROIs that back-propagate in the batch (images x ROIs per image), or
    None when only the graph's ROI count is known (then 'batch' normalization).
    """
    if pixel_reduction not in SEG_PIXEL_REDUCTIONS:
        raise ValueError('mask loss pixel reduction must be one of %s, got %r'
                         % (SEG_PIXEL_REDUCTIONS, pixel_reduction))
    # SoftmaxOutput(multi_output) divides 'null' and 'batch' gradients by the S*S pixels.
    pixels = 1.0 if pixel_reduction == 'mean' else float(pooled_size * pooled_size)
    if rois_per_batch:
        normalization, scale = 'null', weight * pixels / rois_per_batch
    else:
        normalization, scale = 'batch', weight * pixels
    return mx.sym.SoftmaxOutput(data=seg_pred, label=mask_target, multi_output=True,
                                normalization=normalization, use_ignore=True, ignore_label=-1,
                                grad_scale=scale, name='seg_prob')


def bbox_loss(bbox_pred, bbox_target, bbox_weight, weight, rois_per_batch):
    """bbox_pred / bbox_target / bbox_weight (B, 8) -> weighted smooth-L1 (sigma 1) (B, 8)."""
    diff = mx.sym.smooth_l1(bbox_pred - bbox_target, scalar=1.0, name='bbox_loss_l1')
    if rois_per_batch:
        return mx.sym.MakeLoss(bbox_weight * diff, grad_scale=weight / rois_per_batch,
                               normalization='null', name='bbox_loss')
    return mx.sym.MakeLoss(bbox_weight * diff, grad_scale=weight, normalization='batch',
                           name='bbox_loss')
