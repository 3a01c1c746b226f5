"""Pure NumPy twin of lib.masks.mask_voting_cython.vote_region (same float32 arithmetic in the
same order, so results are bit-identical); used by tests and as backend="numpy"."""
import numpy as np

from lib.masks.paste import axis_coeffs


def vote_region_numpy(masks, extents, members, weights, rx1, ry1, rx2, ry2, binary_thresh,
                      binarize_inputs):
    """See lib.masks.mask_voting_cython.vote_region (same arguments and result).

    masks: (N, S_h, S_w) float32; extents: (N, 4) int32; members: (M,) int; weights: (M,)
    returns: (ry2-ry1+1, rx2-rx1+1) uint8.
    """
    rh, rw = ry2 - ry1 + 1, rx2 - rx1 + 1
    if rh <= 0 or rw <= 0:
        raise ValueError("vote_region_numpy: empty region (%d, %d, %d, %d)" % (rx1, ry1, rx2, ry2))
    thresh = np.float32(binary_thresh)
    src_h, src_w = masks.shape[1], masks.shape[2]
    acc = np.zeros((rh, rw), dtype=np.float32)
    total = np.float32(0.0)
    for i, w in zip(members, np.asarray(weights, dtype=np.float32)):
        total = np.float32(total + w)
        bx1, by1, bx2, by2 = (int(v) for v in extents[i])
        x_lo, x_hi = max(bx1, rx1), min(bx2, rx2)
        y_lo, y_hi = max(by1, ry1), min(by2, ry2)
        if x_hi < x_lo or y_hi < y_lo:
            continue
        xs0, xs1, xc0, xc1 = axis_coeffs(src_w, bx2 - bx1 + 1, x_lo - bx1, x_hi - bx1 + 1)
        ys0, ys1, yc0, yc1 = axis_coeffs(src_h, by2 - by1 + 1, y_lo - by1, y_hi - by1 + 1)
        mask = masks[i]
        rows = mask[:, xs0] * xc0 + mask[:, xs1] * xc1               # (S_h, nx)
        value = rows[ys0] * yc0[:, None] + rows[ys1] * yc1[:, None]  # (ny, nx)
        if binarize_inputs:
            value = (value >= thresh).astype(np.float32)
        acc[y_lo - ry1:y_hi - ry1 + 1, x_lo - rx1:x_hi - rx1 + 1] += w * value
    if total <= 0:
        return np.zeros((rh, rw), dtype=np.uint8)
    return ((acc / total) >= thresh).astype(np.uint8)
