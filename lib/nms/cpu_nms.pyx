# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: extra_compile_args = -O3 -ffp-contract=off
"""Greedy non-maximum suppression on the CPU ("+1" pixel areas)."""
import numpy as np


cdef extern from *:
    """
    /* Marks (suppressed[b] |= 1) every box b in [first, n) whose IoU ("+1" areas) with box
       (ix1, iy1, ix2, iy2) of area iarea is > thresh. Branch-free so that it vectorizes; on
       x86-64 compiled for AVX-512, AVX2 and the baseline (GCC/Clang function clones). Only
       min/max, +, -, * and / without contraction (-ffp-contract=off): the same doubles in
       every version. */
    #if defined(__x86_64__) && defined(__GNUC__)
    __attribute__((target_clones("avx512f", "avx2", "default")))
    #endif
    static void fcis_nms_suppress(const double* x1, const double* y1, const double* x2,
                                  const double* y2, const double* areas, Py_ssize_t first,
                                  Py_ssize_t n, double ix1, double iy1, double ix2,
                                  double iy2, double iarea, double thresh,
                                  unsigned char* suppressed) {
        for (Py_ssize_t b = first; b < n; ++b) {
            double w = (ix2 < x2[b] ? ix2 : x2[b]) - (ix1 > x1[b] ? ix1 : x1[b]) + 1;
            double h = (iy2 < y2[b] ? iy2 : y2[b]) - (iy1 > y1[b] ? iy1 : y1[b]) + 1;
            double inter = w * h;
            double uni = iarea + areas[b] - inter;
            suppressed[b] |= (w > 0) & (h > 0) & (uni > 0) & (inter / uni > thresh);
        }
    }
    """
    void fcis_nms_suppress(const double* x1, const double* y1, const double* x2,
                           const double* y2, const double* areas, Py_ssize_t first,
                           Py_ssize_t n, double ix1, double iy1, double ix2, double iy2,
                           double iarea, double thresh, unsigned char* suppressed) nogil


def cpu_nms(const double[:, ::1] dets, double thresh, Py_ssize_t max_keep=0):
    """Greedy NMS.

    dets: (N, 5) float64 C-contiguous [x1, y1, x2, y2, score]
    thresh: a box is suppressed when its IoU with a kept, higher-ranked box is > thresh
    max_keep: stop once this many boxes are kept (0: no limit); a box is kept or dropped
        by the boxes ranked above it only, so these are the first max_keep of a full run
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
    cdef Py_ssize_t a
    with nogil:
        for a in range(n):
            if suppressed[a]:
                continue
            keep[num_kept] = order[a]
            num_kept += 1
            if num_kept == max_keep:
                break
            # every lower-ranked box (testing already suppressed ones changes nothing)
            fcis_nms_suppress(x1, y1, x2, y2, areas, a + 1, n, x1[a], y1[a], x2[a], y2[a],
                              areas[a], thresh, suppressed)
    return keep_array[:num_kept].tolist()
