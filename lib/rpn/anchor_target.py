"""RPN training targets: label, box-regression target and weight of every anchor.

The classic Faster R-CNN rules, per image:

* anchors crossing the image border by more than ``allowed_border`` pixels are ignored (-1);
* an anchor whose best IoU with a GT box is < ``negative_overlap`` is background (0);
* for every GT box, the anchor(s) with the highest IoU to it are foreground (1);
* an anchor whose best IoU is >= ``positive_overlap`` is foreground (1);
* (with ``clobber_positives`` the background rule is applied last and wins);
* at most ``batch_size * fg_fraction`` foreground anchors are kept (the rest, drawn at
  random, become -1), then background anchors are subsampled so that at most
  ``batch_size`` anchors are labelled in all;
* box targets are ``bbox_transform(anchor, its best GT)``; weights are 1 for foreground.

A GT box that overlaps no inside anchor at all takes no anchor, unless
``match_zero_overlap`` (the original release's rule, from the classic code): then every
anchor whose IoU with that box is 0, i.e. its maximum, is "best" for it and foreground
(before the foreground subsampling).
"""
import numpy as np

from lib.boxes.bbox import bbox_overlaps, bbox_transform

from .generate_anchors import generate_anchors, shifted_anchors


def inside_anchor_indices(anchors, im_height, im_width, allowed_border=0):
    """Indices of the (N, 4) anchors that stay inside the image up to ``allowed_border`` pixels."""
    keep = ((anchors[:, 0] >= -allowed_border) & (anchors[:, 1] >= -allowed_border) &
            (anchors[:, 2] < im_width + allowed_border) & (anchors[:, 3] < im_height + allowed_border))
    return np.where(keep)[0]


def valid_gt_boxes(gt_boxes):
    """(K, 4) float32 boxes from (K, 4) or (K, 5) GT rows; rows padded with class -1 are dropped."""
    gt = np.asarray(gt_boxes, dtype=np.float32)
    if gt.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    gt = gt.reshape(-1, gt.shape[-1])                            # (K, 4 or 5)
    if gt.shape[1] >= 5:
        gt = gt[gt[:, 4] > 0]
    return gt[:, :4]


def label_anchors(overlaps, positive_overlap=0.7, negative_overlap=0.3, clobber_positives=False,
                  match_zero_overlap=False):
    """Labels (N,) int32 in {-1, 0, 1} from (N, K) anchor/GT IoUs, before subsampling."""
    num_anchors, num_gt = overlaps.shape
    labels = np.full(num_anchors, -1, dtype=np.int32)
    if num_gt == 0 or num_anchors == 0:
        labels[:] = 0
        return labels
    max_overlaps = overlaps.max(axis=1)                          # (N,)
    if not clobber_positives:
        labels[max_overlaps < negative_overlap] = 0
    gt_max = overlaps.max(axis=0)                                # (K,)
    has_anchor = np.ones_like(gt_max, dtype=bool) if match_zero_overlap else gt_max > 0
    best_for_gt = np.where((overlaps == gt_max[None, :]) & has_anchor[None, :])[0]
    labels[best_for_gt] = 1
    labels[max_overlaps >= positive_overlap] = 1
    if clobber_positives:
        labels[max_overlaps < negative_overlap] = 0
    return labels


def subsample_labels(labels, batch_size, fg_fraction, rng):
    """Disable (set to -1, in place) random excess fg beyond batch_size*fg_fraction, then excess bg."""
    num_fg = int(fg_fraction * batch_size)
    fg_inds = np.where(labels == 1)[0]
    if len(fg_inds) > num_fg:
        labels[rng.choice(fg_inds, size=len(fg_inds) - num_fg, replace=False)] = -1
    num_bg = batch_size - np.sum(labels == 1)
    bg_inds = np.where(labels == 0)[0]
    if len(bg_inds) > num_bg:
        labels[rng.choice(bg_inds, size=len(bg_inds) - num_bg, replace=False)] = -1
    return labels


def assign_anchor(feat_shape, gt_boxes, im_info, rng, feat_stride=16, scales=(8, 16, 32),
                  ratios=(0.5, 1, 2), allowed_border=0, batch_size=256, fg_fraction=0.5,
                  positive_overlap=0.7, negative_overlap=0.3, clobber_positives=False,
                  match_zero_overlap=False):
    """RPN targets of one image.

    Args:
        feat_shape: (fh, fw) of the RPN output map (extra leading dims are ignored).
        gt_boxes: (K, 4) or (K, 5) GT boxes in the scaled image frame; with a 5th
            (class) column, rows whose class is <= 0 (padding) are ignored.
        im_info: (height, width, scale) of the scaled image (padding excluded).
        rng: np.random.RandomState used for subsampling.
        feat_stride, scales, ratios: anchor layout (A = len(scales) * len(ratios)).
        match_zero_overlap: a GT box without any overlapping anchor takes every anchor
            (see the module docstring).
    Returns dict:
        label (1, A * fh * fw) float32 in {-1, 0, 1}, flattened in (A, fh, fw) order;
        bbox_target (1, 4A, fh, fw) float32, channel 4a + j = delta j of anchor a;
        bbox_weight (1, 4A, fh, fw) float32, 1 for foreground anchors.
    """
    fh, fw = int(feat_shape[-2]), int(feat_shape[-1])
    base = generate_anchors(base_size=feat_stride, ratios=ratios, scales=scales)
    num_a = base.shape[0]
    all_anchors = shifted_anchors(fh, fw, feat_stride, base)     # (fh*fw*A, 4)
    total = all_anchors.shape[0]
    inds = inside_anchor_indices(all_anchors, im_info[0], im_info[1], allowed_border)
    anchors = all_anchors[inds]                                  # (N, 4)
    gt = valid_gt_boxes(gt_boxes)                                # (K, 4)

    overlaps = bbox_overlaps(anchors, gt)                        # (N, K)
    labels = label_anchors(overlaps, positive_overlap, negative_overlap, clobber_positives,
                           match_zero_overlap)
    labels = subsample_labels(labels, batch_size, fg_fraction, rng)

    targets = np.zeros((len(inds), 4), dtype=np.float32)
    if gt.shape[0] > 0 and len(inds) > 0:
        targets[:] = bbox_transform(anchors, gt[overlaps.argmax(axis=1)])
    weights = np.zeros((len(inds), 4), dtype=np.float32)
    weights[labels == 1] = 1.0

    full_labels = np.full(total, -1, dtype=np.float32)
    full_labels[inds] = labels
    full_targets = np.zeros((total, 4), dtype=np.float32)
    full_targets[inds] = targets
    full_weights = np.zeros((total, 4), dtype=np.float32)
    full_weights[inds] = weights

    label = full_labels.reshape(1, fh, fw, num_a).transpose(0, 3, 1, 2)          # (1, A, fh, fw)
    label = label.reshape(1, num_a * fh * fw)                                     # (1, A*fh*fw)
    bbox_target = full_targets.reshape(1, fh, fw, num_a * 4).transpose(0, 3, 1, 2)  # (1, 4A, fh, fw)
    bbox_weight = full_weights.reshape(1, fh, fw, num_a * 4).transpose(0, 3, 1, 2)  # (1, 4A, fh, fw)
    return {'label': np.ascontiguousarray(label),
            'bbox_target': np.ascontiguousarray(bbox_target),
            'bbox_weight': np.ascontiguousarray(bbox_weight)}
