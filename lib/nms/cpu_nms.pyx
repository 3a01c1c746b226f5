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
    # boxes in rank order, one contiguous row per coordinate: (4, N)
    ranked_array = np.ascontiguousarray(np.asarray(dets)[order_array, :4].T)
    areas_array = ((ranked_array[2] - ranked_array[0] + 1) *
                   (ranked_array[3] - ranked_array[1] + 1))
    cdef const double[:, ::1] ranked = ranked_array
    cdef const double[::1] areas_view = areas_array
    cdef const double* x1 = &ranked[0, 0]
    cdef const double* y1 = &ranked[1, 0]
    cdef const double* x2 = &ranked[2, 0]
    cdef const double* y2 = &ranked[3, 0]
    cdef const double* areas = &areas_view[0]
    cdef Py_ssize_t[::1] order = order_array
    suppressed_array = np.zeros(n, dtype=np.uint8)  # by rank
    cdef unsigned char[::1] suppressed_view = suppressed_array
    cdef unsigned char* suppressed = &suppressed_view[0]
    keep_array = np.empty(n, dtype=np.intp)
    cdef Py_ssize_t[::1] keep = keep_array
    cdef Py_ssize_t num_kept = 0
    cdef Py_ssize_t a, b
    cdef double ix1, iy1, ix2, iy2, iarea, w, h, inter, union
    with nogil:
        for a in range(n):
            if suppressed[a]:
                continue
            keep[num_kept] = order[a]
            num_kept += 1
            ix1 = x1[a]
            iy1 = y1[a]
            ix2 = x2[a]
            iy2 = y2[a]
            iarea = areas[a]
            # Branch-free over all lower-ranked boxes (the compiler vectorizes it): testing
            # boxes that are already suppressed changes nothing, and the IoU is computed
            # as before, so the kept set is the same.
            for b in range(a + 1, n):
                w = (ix2 if ix2 < x2[b] else x2[b]) - (ix1 if ix1 > x1[b] else x1[b]) + 1
                h = (iy2 if iy2 < y2[b] else y2[b]) - (iy1 if iy1 > y1[b] else y1[b]) + 1
                inter = w * h
                union = iarea + areas[b] - inter
                suppressed[b] |= (w > 0) & (h > 0) & (union > 0) & (inter / union > thresh)
    return keep_array[:num_kept].tolist()
