"""Pure NumPy twins of lib.masks.mask_voting_cython.vote_region and vote_region_soft (same
float32 arithmetic in the same order, so results are bit-identical); used by tests and as
backend="numpy"."""
import numpy as np

from lib.masks.paste import axis_coeffs


def _member_values(mask, extent, region, binary_thresh, binarize_inputs):
    """Member mask resized to its extent, inside region (rx1, ry1, rx2, ry2): (values (ny, nx)
    float32, x_lo, y_lo), or None when the member has no pixel in the region."""
    rx1, ry1, rx2, ry2 = region
    bx1, by1, bx2, by2 = (int(v) for v in extent)
    x_lo, x_hi = max(bx1, rx1), min(bx2, rx2)
    y_lo, y_hi = max(by1, ry1), min(by2, ry2)
    if x_hi < x_lo or y_hi < y_lo:
        return None
    xs0, xs1, xc0, xc1 = axis_coeffs(mask.shape[1], bx2 - bx1 + 1, x_lo - bx1, x_hi - bx1 + 1)
    ys0, ys1, yc0, yc1 = axis_coeffs(mask.shape[0], by2 - by1 + 1, y_lo - by1, y_hi - by1 + 1)
    rows = mask[:, xs0] * xc0 + mask[:, xs1] * xc1               # (S_h, nx)
    value = rows[ys0] * yc0[:, None] + rows[ys1] * yc1[:, None]  # (ny, nx)
    if binarize_inputs:
        value = (value >= np.float32(binary_thresh)).astype(np.float32)
    return value, x_lo, y_lo


def _region_shape(name, rx1, ry1, rx2, ry2):
    rh, rw = ry2 - ry1 + 1, rx2 - rx1 + 1
    if rh <= 0 or rw <= 0:
        raise ValueError('%s: empty region (%d, %d, %d, %d)' % (name, rx1, ry1, rx2, ry2))
    return rh, rw


def vote_region_numpy(masks, extents, members, weights, rx1, ry1, rx2, ry2, binary_thresh,
                      binarize_inputs):
    """See lib.masks.mask_voting_cython.vote_region (same arguments and result).

    masks: (N, S_h, S_w) float32; extents: (N, 4) int32; members: (M,) int; weights: (M,)
    returns: (ry2-ry1+1, rx2-rx1+1) uint8.
    """
    rh, rw = _region_shape('vote_region_numpy', rx1, ry1, rx2, ry2)
    acc = np.zeros((rh, rw), dtype=np.float32)
    total = np.float32(0.0)
    for i, w in zip(members, np.asarray(weights, dtype=np.float32)):
        total = np.float32(total + w)
        part = _member_values(masks[i], extents[i], (rx1, ry1, rx2, ry2), binary_thresh,
                              binarize_inputs)
        if part is None:
            continue
        value, x_lo, y_lo = part
        acc[y_lo - ry1:y_lo - ry1 + value.shape[0], x_lo - rx1:x_lo - rx1 + value.shape[1]] += \
            w * value
    if total <= 0:
        return np.zeros((rh, rw), dtype=np.uint8)
    return ((acc / total) >= np.float32(binary_thresh)).astype(np.uint8)


def vote_region_soft_numpy(masks, extents, members, weights, rx1, ry1, rx2, ry2,
                           binary_thresh, binarize_inputs):
    """See lib.masks.mask_voting_cython.vote_region_soft (same arguments and result).

    returns: (ry2-ry1+1, rx2-rx1+1) float64 sums of weight * value in member order.
    """
    rh, rw = _region_shape('vote_region_soft_numpy', rx1, ry1, rx2, ry2)
    acc = np.zeros((rh, rw), dtype=np.float64)
    for i, w in zip(members, np.asarray(weights, dtype=np.float32)):
        part = _member_values(masks[i], extents[i], (rx1, ry1, rx2, ry2), binary_thresh,
                              binarize_inputs)
        if part is None:
            continue
        value, x_lo, y_lo = part
        acc[y_lo - ry1:y_lo - ry1 + value.shape[0], x_lo - rx1:x_lo - rx1 + value.shape[1]] += \
            (w * value).astype(np.float64)
    return acc
