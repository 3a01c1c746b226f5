"""Reference anchors of the RPN ("+1" pixel convention).

The base anchor is the square [0, 0, base_size - 1, base_size - 1]. For every ratio
(height / width) the area base_size**2 is kept: width = round(sqrt(area / ratio)),
height = round(width * ratio), centred on the base anchor's centre; each of those is then
enlarged by every scale around the same centre. Order: ratio-major, then scale.
"""
import numpy as np


def _boxes_from_sizes(widths, heights, center_x, center_y):
    """(N, 4) inclusive boxes of the given widths/heights around one centre."""
    half_w, half_h = 0.5 * (widths - 1), 0.5 * (heights - 1)
    return np.stack([center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h], axis=1)


def generate_anchors(base_size=16, ratios=(0.5, 1, 2), scales=(8, 16, 32)):
    """Anchors of one feature-map cell at the origin.

    Returns (len(ratios) * len(scales), 4) float32 [x1, y1, x2, y2]; anchor
    ``r * len(scales) + s`` has ratio ``ratios[r]`` and scale ``scales[s]``.
    """
    ratios = np.asarray(ratios, dtype=np.float64).reshape(-1)   # (R,)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1)   # (S,)
    if ratios.size == 0 or scales.size == 0 or np.any(ratios <= 0) or np.any(scales <= 0):
        raise ValueError('anchor ratios and scales must be non-empty and positive, got %r, %r'
                         % (ratios.tolist(), scales.tolist()))
    center = 0.5 * (base_size - 1)
    area = float(base_size * base_size)
    ratio_w = np.round(np.sqrt(area / ratios))                  # (R,)
    ratio_h = np.round(ratio_w * ratios)                        # (R,)
    widths = (ratio_w[:, None] * scales[None, :]).reshape(-1)   # (R*S,) ratio-major
    heights = (ratio_h[:, None] * scales[None, :]).reshape(-1)  # (R*S,)
    return _boxes_from_sizes(widths, heights, center, center).astype(np.float32)


def shifted_anchors(feat_height, feat_width, feat_stride, base_anchors):
    """All anchors of a (feat_height, feat_width) map: (fh * fw * A, 4), order (fh, fw, A)."""
    shift_x = np.arange(feat_width) * feat_stride
    shift_y = np.arange(feat_height) * feat_stride
    sx, sy = np.meshgrid(shift_x, shift_y)                      # (fh, fw) each
    shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1)  # (fh*fw, 4)
    anchors = base_anchors[None, :, :] + shifts[:, None, :]     # (fh*fw, A, 4)
    return anchors.reshape(-1, 4).astype(np.float32)            # (fh*fw*A, 4)
