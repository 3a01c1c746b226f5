"""Moving masks between ROI frames (S x S probabilities) and image frames.

Pixel conventions, shared with lib.masks.voting:
  * a float box [x1, y1, x2, y2] covers the integer extent round(x1)..round(x2) (inclusive),
    with round(v) = floor(v + 0.5), and at least one pixel in each direction;
  * resizing is bilinear with half-pixel centers (cv2.INTER_LINEAR): destination pixel d of
    a length-D axis samples source coordinate (d + 0.5) * S / D - 0.5, clamped at the edges;
  * binarization keeps values >= binary_thresh.
"""
import cv2
import numpy as np


def box_extent(boxes):
    """Integer pixel extents of float boxes.

    boxes: (N, 4) or (4,) float [x1, y1, x2, y2]
    returns: int32 array of the same shape; x2 >= x1 and y2 >= y1 (width, height >= 1).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[-1:] != (4,) or boxes.ndim > 2:
        raise ValueError('box_extent: boxes must have shape (N, 4) or (4,), got %s' % (boxes.shape,))
    if not np.isfinite(boxes).all():
        raise ValueError('box_extent: boxes contain NaN or inf; clip or filter them first')
    ext = np.floor(boxes + 0.5).astype(np.int64)
    ext[..., 2] = np.maximum(ext[..., 2], ext[..., 0])
    ext[..., 3] = np.maximum(ext[..., 3], ext[..., 1])
    return ext.astype(np.int32)


def clip_extent(extent, im_h, im_w):
    """Intersect an integer extent (x1, y1, x2, y2) with the image; may become empty
    (x2 < x1 or y2 < y1) when the box lies outside the image. Returns a tuple of ints."""
    x1, y1, x2, y2 = (int(v) for v in extent)
    return max(x1, 0), max(y1, 0), min(x2, im_w - 1), min(y2, im_h - 1)


def axis_coeffs(src_len, dst_len, start=0, stop=None):
    """Bilinear taps of destination pixels start..stop-1 of a src_len -> dst_len resize.

    returns: (s0, s1, c0, c1): int64 source indices and float32 weights, each (stop - start,);
        value = src[s0] * c0 + src[s1] * c1, computed in float32 as cv2 does.
    """
    stop = dst_len if stop is None else stop
    scale = float(src_len) / float(dst_len)
    pos = ((np.arange(start, stop, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s0 = np.floor(pos)
    frac = (pos - s0).astype(np.float32)
    s0 = s0.astype(np.int64)
    frac[s0 < 0] = 0.0
    s0 = np.maximum(s0, 0)
    frac[s0 >= src_len - 1] = 0.0
    s0 = np.minimum(s0, src_len - 1)
    s1 = np.minimum(s0 + 1, src_len - 1)
    return s0, s1, (np.float32(1.0) - frac).astype(np.float32), frac


def resize_bilinear(mask, out_h, out_w):
    """NumPy bilinear resize with the cv2.INTER_LINEAR formula (float32).

    mask: (h, w) float; returns (out_h, out_w) float32.
    """
    mask = np.asarray(mask, dtype=np.float32)
    xs0, xs1, xc0, xc1 = axis_coeffs(mask.shape[1], out_w)
    ys0, ys1, yc0, yc1 = axis_coeffs(mask.shape[0], out_h)
    rows = mask[:, xs0] * xc0 + mask[:, xs1] * xc1                # (h, out_w) horizontal pass
    return rows[ys0] * yc0[:, None] + rows[ys1] * yc1[:, None]    # (out_h, out_w)


def paste_mask(mask, box, im_h, im_w, binary_thresh):
    """Paste an ROI mask into an image-sized binary mask.

    mask: (h_m, w_m) float probabilities over the ROI
    box: (4,) float [x1, y1, x2, y2] in image pixels (may extend past the image)
    returns: (im_h, im_w) uint8, 1 where the mask resized to the box's integer extent
        (cv2.resize bilinear) is >= binary_thresh; parts outside the image are dropped.
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise ValueError('paste_mask: mask must have shape (h, w), got %s' % (mask.shape,))
    x1, y1, x2, y2 = box_extent(box)
    resized = cv2.resize(mask, (int(x2 - x1 + 1), int(y2 - y1 + 1)),
                         interpolation=cv2.INTER_LINEAR)  # (box_h, box_w)
    out = np.zeros((im_h, im_w), dtype=np.uint8)
    cx1, cy1, cx2, cy2 = clip_extent((x1, y1, x2, y2), im_h, im_w)
    if cx2 >= cx1 and cy2 >= cy1:
        part = resized[cy1 - y1:cy2 - y1 + 1, cx1 - x1:cx2 - x1 + 1]
        out[cy1:cy2 + 1, cx1:cx2 + 1] = part >= binary_thresh
    return out


def binary_regions(gt_masks, mask_rows, clipped):
    """The part of each used mask that its ROIs cover, binarized once.

    gt_masks: (K, H, W); mask_rows: (F,) ints; clipped: (F, 4) int extents inside the image
        (empty where x2 < x1 or y2 < y1)
    returns: {row: (x0, y0, region)}, region = (gt_masks[row] != 0) as float32 over the
        bounding rectangle (x0, y0 its first pixel) of the row's non-empty extents.
    """
    nonempty = (clipped[:, 2] >= clipped[:, 0]) & (clipped[:, 3] >= clipped[:, 1])  # (F,)
    regions = {}
    for row in np.unique(mask_rows[nonempty]).tolist():
        ext = clipped[nonempty & (mask_rows == row)]  # (n, 4)
        x0, y0 = int(ext[:, 0].min()), int(ext[:, 1].min())
        x2, y2 = int(ext[:, 2].max()), int(ext[:, 3].max())
        region = np.not_equal(gt_masks[row, y0:y2 + 1, x0:x2 + 1], 0).astype(np.float32)
        regions[row] = (x0, y0, region)
    return regions


def crop_and_resize_masks(gt_masks, mask_rows, rois, size=21, binary_thresh=0.4):
    """Mask training targets of several ROIs, each cropped from its own ground-truth mask.

    gt_masks: (K, H, W) binary (any dtype) ground-truth instance masks
    mask_rows: (F,) ints, the row of gt_masks that ROI f is cropped from
    rois: (F, 4) float [x1, y1, x2, y2]
    returns: (F, size, size) float32 of 0/1: each ROI's integer extent of its mask (pixels
        outside the image count as 0, so the target stays aligned with the ROI), resized
        with cv2.resize bilinear, then >= binary_thresh.
    Each mask is binarized once over the part its ROIs cover; an extent inside the image is
    resized in place.
    """
    gt_masks = np.asarray(gt_masks)
    if gt_masks.ndim != 3:
        raise ValueError('crop_and_resize_masks: gt_masks must have shape (K, H, W), got %s'
                         % (gt_masks.shape,))
    im_h, im_w = gt_masks.shape[1:]
    rows = np.asarray(mask_rows, dtype=np.int64).reshape(-1)  # (F,)
    extents = box_extent(np.asarray(rois, dtype=np.float64).reshape(-1, 4)).tolist()
    clipped = [clip_extent(extent, im_h, im_w) for extent in extents]  # F x (x1, y1, x2, y2)
    regions = binary_regions(gt_masks, rows, np.array(clipped, dtype=np.int64).reshape(-1, 4))
    out = np.empty((len(extents), size, size), dtype=np.float32)
    for k, ((x1, y1, x2, y2), (cx1, cy1, cx2, cy2)) in enumerate(zip(extents, clipped)):
        if (x1, y1, x2, y2) == (cx1, cy1, cx2, cy2):  # inside the image: a view
            x0, y0, region = regions[int(rows[k])]
            crop = region[y1 - y0:y2 - y0 + 1, x1 - x0:x2 - x0 + 1]  # (roi_h, roi_w)
        else:
            crop = np.zeros((y2 - y1 + 1, x2 - x1 + 1), dtype=np.float32)  # (roi_h, roi_w)
            if cx2 >= cx1 and cy2 >= cy1:
                x0, y0, region = regions[int(rows[k])]
                crop[cy1 - y1:cy2 - y1 + 1, cx1 - x1:cx2 - x1 + 1] = region[
                    cy1 - y0:cy2 - y0 + 1, cx1 - x0:cx2 - x0 + 1]
        resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)  # (S, S)
        np.greater_equal(resized, binary_thresh, out=out[k])
    return out


def crop_and_resize_mask(gt_mask, roi, size=21, binary_thresh=0.4):
    """Mask training target of one ROI: crop_and_resize_masks of one (H, W) gt_mask and one
    (4,) roi -> (size, size) float32 of 0/1."""
    gt_mask = np.asarray(gt_mask)
    if gt_mask.ndim != 2:
        raise ValueError('crop_and_resize_mask: gt_mask must have shape (H, W), got %s'
                         % (gt_mask.shape,))
    return crop_and_resize_masks(gt_mask[None], [0], np.asarray(roi)[None], size,
                                 binary_thresh)[0]
