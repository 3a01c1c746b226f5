# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled box overlaps (IoU) with the "+1" pixel convention.

A box [x1, y1, x2, y2] covers the pixels x1..x2 and y1..y2 inclusive, so its area is
(x2 - x1 + 1) * (y2 - y1 + 1). A box with x2 = x1 - 1 has zero area and overlaps nothing.
"""
import numpy as np


def bbox_overlaps(const double[:, ::1] boxes, const double[:, ::1] query_boxes):
    """IoU of every box with every query box.

    boxes: (N, 4) float64 C-contiguous [x1, y1, x2, y2]
    query_boxes: (K, 4) float64 C-contiguous
    returns: (N, K) float64, 0 where the boxes do not intersect.
    """
    cdef Py_ssize_t n_boxes = boxes.shape[0]
    cdef Py_ssize_t n_query = query_boxes.shape[0]
    overlaps = np.zeros((n_boxes, n_query), dtype=np.float64)
    cdef double[:, ::1] out = overlaps
    cdef Py_ssize_t n, k
    cdef double iw, ih, inter, union, query_area, box_area
    with nogil:
        for k in range(n_query):
            query_area = ((query_boxes[k, 2] - query_boxes[k, 0] + 1) *
                          (query_boxes[k, 3] - query_boxes[k, 1] + 1))
            for n in range(n_boxes):
                iw = (min(boxes[n, 2], query_boxes[k, 2]) -
                      max(boxes[n, 0], query_boxes[k, 0]) + 1)
                if iw <= 0:
                    continue
                ih = (min(boxes[n, 3], query_boxes[k, 3]) -
                      max(boxes[n, 1], query_boxes[k, 1]) + 1)
                if ih <= 0:
                    continue
                box_area = ((boxes[n, 2] - boxes[n, 0] + 1) *
                            (boxes[n, 3] - boxes[n, 1] + 1))
                inter = iw * ih
                union = box_area + query_area - inter
                if union > 0:
                    out[n, k] = inter / union
    return overlaps
