"""Box utilities: overlaps, regression transforms, clipping, size filtering.

Conventions (as in the original FCIS / Faster R-CNN code):
  * a box is [x1, y1, x2, y2] in image pixels, both ends inclusive;
  * width = x2 - x1 + 1, height = y2 - y1 + 1;
  * center x = x1 + 0.5 * (width - 1), center y likewise.
"""
import numpy as np

from lib.utils.native import import_extension

# Largest allowed log scale in bbox_pred: exp(4.135) = 62.5, i.e. a box never grows by more
# than 1000/16 in one regression step; this keeps exp() far from overflow for any input.
BBOX_XFORM_CLIP = float(np.log(1000.0 / 16.0))


def _as_boxes(name, array, columns=4):
    """Return `array` as a float array of shape (N, columns) or raise a one-line error."""
    array = np.asarray(array)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, columns)  # (0,) -> (0, columns)
    if array.ndim != 2 or array.shape[1] != columns:
        raise ValueError('%s must have shape (N, %d), got %s; pass one box per row'
                         % (name, columns, array.shape))
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise TypeError('%s must be a numeric array, got dtype %s' % (name, array.dtype))
    return array


def _compiled():
    return import_extension('lib.boxes.bbox_cython')


def bbox_overlaps(boxes, query_boxes):
    """IoU between two sets of boxes ("+1" areas), computed by the compiled kernel.

    boxes: (N, 4) any float or int dtype
    query_boxes: (K, 4)
    returns: (N, K) float64; empty inputs give a (N, K) array with a zero dimension.
    """
    boxes = _as_boxes('bbox_overlaps: boxes', boxes)
    query_boxes = _as_boxes('bbox_overlaps: query_boxes', query_boxes)
    if boxes.shape[0] == 0 or query_boxes.shape[0] == 0:
        return np.zeros((boxes.shape[0], query_boxes.shape[0]), dtype=np.float64)
    return _compiled().bbox_overlaps(np.ascontiguousarray(boxes, dtype=np.float64),
                                     np.ascontiguousarray(query_boxes, dtype=np.float64))


def bbox_transform(ex_rois, gt_rois):
    """Regression targets that move `ex_rois` onto `gt_rois`.

    ex_rois: (N, 4) source boxes (width and height must be > 0)
    gt_rois: (N, 4) target boxes (width and height must be > 0)
    returns: (N, 4) float64 deltas (dx, dy, dw, dh) with
        dx = (gt_cx - ex_cx) / ex_w,  dw = log(gt_w / ex_w)  (dy, dh likewise).
    """
    ex_rois = _as_boxes('bbox_transform: ex_rois', ex_rois).astype(np.float64)
    gt_rois = _as_boxes('bbox_transform: gt_rois', gt_rois).astype(np.float64)
    if ex_rois.shape[0] != gt_rois.shape[0]:
        raise ValueError('bbox_transform: ex_rois has %d rows but gt_rois has %d; pass one '
                         'target per ROI' % (ex_rois.shape[0], gt_rois.shape[0]))
    ex_w = ex_rois[:, 2] - ex_rois[:, 0] + 1.0
    ex_h = ex_rois[:, 3] - ex_rois[:, 1] + 1.0
    gt_w = gt_rois[:, 2] - gt_rois[:, 0] + 1.0
    gt_h = gt_rois[:, 3] - gt_rois[:, 1] + 1.0
    if ex_rois.shape[0] and (ex_w.min() <= 0 or ex_h.min() <= 0):
        raise ValueError('bbox_transform: ex_rois contain a box with width or height <= 0; '
                         'filter degenerate ROIs first')
    if gt_rois.shape[0] and (gt_w.min() <= 0 or gt_h.min() <= 0):
        raise ValueError('bbox_transform: gt_rois contain a box with width or height <= 0; '
                         'filter degenerate ground-truth boxes first')
    ex_cx = ex_rois[:, 0] + 0.5 * (ex_w - 1.0)
    ex_cy = ex_rois[:, 1] + 0.5 * (ex_h - 1.0)
    gt_cx = gt_rois[:, 0] + 0.5 * (gt_w - 1.0)
    gt_cy = gt_rois[:, 1] + 0.5 * (gt_h - 1.0)
    return np.stack([(gt_cx - ex_cx) / ex_w,
                     (gt_cy - ex_cy) / ex_h,
                     np.log(gt_w / ex_w),
                     np.log(gt_h / ex_h)], axis=1)


def bbox_pred(boxes, deltas, max_log_scale=BBOX_XFORM_CLIP):
    """Apply regression deltas to boxes: the inverse of bbox_transform.

    boxes: (N, 4) ROIs
    deltas: (N, 4 * C) (dx, dy, dw, dh) for each of C classes (C = 1 for class-agnostic)
    max_log_scale: dw and dh are clipped to this before exp() (no overflow, no inf boxes)
    returns: (N, 4 * C) float64 predicted boxes [x1, y1, x2, y2] per class.
    """
    boxes = _as_boxes('bbox_pred: boxes', boxes).astype(np.float64)
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.ndim != 2 or deltas.shape[1] % 4 != 0 or deltas.shape[0] != boxes.shape[0]:
        raise ValueError('bbox_pred: deltas must have shape (N, 4*C) with N = %d boxes, got %s'
                         % (boxes.shape[0], deltas.shape))
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    ctr_x = (boxes[:, 0] + 0.5 * (widths - 1.0))[:, None]  # (N, 1)
    ctr_y = (boxes[:, 1] + 0.5 * (heights - 1.0))[:, None]
    dx = deltas[:, 0::4]  # (N, C)
    dy = deltas[:, 1::4]
    dw = np.minimum(deltas[:, 2::4], max_log_scale)
    dh = np.minimum(deltas[:, 3::4], max_log_scale)
    pred_cx = dx * widths[:, None] + ctr_x
    pred_cy = dy * heights[:, None] + ctr_y
    pred_w = np.exp(dw) * widths[:, None]
    pred_h = np.exp(dh) * heights[:, None]
    pred = np.empty_like(deltas)
    pred[:, 0::4] = pred_cx - 0.5 * (pred_w - 1.0)
    pred[:, 1::4] = pred_cy - 0.5 * (pred_h - 1.0)
    pred[:, 2::4] = pred_cx + 0.5 * (pred_w - 1.0)
    pred[:, 3::4] = pred_cy + 0.5 * (pred_h - 1.0)
    return pred


def clip_boxes(boxes, im_shape):
    """Clip boxes to the image: x to [0, w - 1], y to [0, h - 1].

    boxes: (N, 4 * C)
    im_shape: (h, w, ...) -- only the first two entries are used
    returns: a new (N, 4 * C) array of the same float dtype (ints become float64).
    """
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] % 4 != 0:
        raise ValueError('clip_boxes: boxes must have shape (N, 4*C), got %s' % (boxes.shape,))
    if len(im_shape) < 2 or im_shape[0] < 1 or im_shape[1] < 1:
        raise ValueError('clip_boxes: im_shape must start with (height, width) >= 1, got %s'
                         % (tuple(im_shape),))
    dtype = boxes.dtype if np.issubdtype(boxes.dtype, np.floating) else np.float64
    out = boxes.astype(dtype, order='C', copy=True)
    points = out.reshape(-1, 2)  # (N * 2C, 2) rows of (x, y): columns alternate x, y
    np.clip(points, 0, np.array([im_shape[1] - 1, im_shape[0] - 1], dtype=dtype), out=points)
    return out


def filter_small_boxes(boxes, min_size):
    """Indices of the boxes whose width and height are both >= min_size.

    boxes: (N, 4)
    returns: (M,) int64 indices, increasing.
    """
    boxes = _as_boxes('filter_small_boxes: boxes', boxes)
    widths = boxes[:, 2] - boxes[:, 0] + 1
    heights = boxes[:, 3] - boxes[:, 1] + 1
    return np.where((widths >= min_size) & (heights >= min_size))[0]
