# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Greedy non-maximum suppression on the CPU ("+1" pixel areas)."""
import numpy as np


def cpu_nms(const double[:, ::1] dets, double thresh):
    """Greedy NMS.

    dets: (N, 5) float64 C-contiguous [x1, y1, x2, y2, score]
    thresh: a box is suppressed when its IoU with a kept, higher-ranked box is > thresh
    returns: list of kept row indices, by descending score; equal scores keep the lower
        row index first (stable order).
    """
    cdef Py_ssize_t n = dets.shape[0]
    if n == 0:
        return []
    order_array = np.argsort(-np.asarray(dets[:, 4]), kind="stable").astype(np.intp)
    cdef Py_ssize_t[::1] order = order_array
    areas_array = ((np.asarray(dets[:, 2]) - np.asarray(dets[:, 0]) + 1) *
                   (np.asarray(dets[:, 3]) - np.asarray(dets[:, 1]) + 1))
    cdef const double[::1] areas = areas_array
    suppressed_array = np.zeros(n, dtype=np.uint8)
    cdef unsigned char[::1] suppressed = suppressed_array
    keep_array = np.empty(n, dtype=np.intp)
    cdef Py_ssize_t[::1] keep = keep_array
    cdef Py_ssize_t num_kept = 0
    cdef Py_ssize_t a, b, i, j
    cdef double ix1, iy1, ix2, iy2, iarea, w, h, inter, union
    with nogil:
        for a in range(n):
            i = order[a]
            if suppressed[i]:
                continue
            keep[num_kept] = i
            num_kept += 1
            ix1 = dets[i, 0]
            iy1 = dets[i, 1]
            ix2 = dets[i, 2]
            iy2 = dets[i, 3]
            iarea = areas[i]
            for b in range(a + 1, n):
                j = order[b]
                if suppressed[j]:
                    continue
                w = min(ix2, dets[j, 2]) - max(ix1, dets[j, 0]) + 1
                if w <= 0:
                    continue
                h = min(iy2, dets[j, 3]) - max(iy1, dets[j, 1]) + 1
                if h <= 0:
                    continue
                inter = w * h
                union = iarea + areas[j] - inter
                if union > 0 and inter / union > thresh:
                    suppressed[j] = 1
    return keep_array[:num_kept].tolist()
