# cython: language_level=3
"""GPU non-maximum suppression (built only when MXNet has CUDA); see nms_kernel.cu."""
import numpy as np


cdef extern from "nms_kernel.h":
    int fcis_gpu_nms(int *keep_out, int *num_out, const float *boxes_host, int boxes_num,
                     int boxes_dim, float thresh, int device_id, char *err, int err_len) nogil


def gpu_nms(dets, double thresh, int device_id=0):
    """Greedy NMS on GPU `device_id`, same contract as lib.nms.cpu_nms.cpu_nms.

    dets: (N, 5) [x1, y1, x2, y2, score] (computed in float32 on the device)
    returns: list of kept row indices by descending score (ties: lower index first).
    """
    dets = np.asarray(dets, dtype=np.float32)
    cdef int n = dets.shape[0]
    if n == 0:
        return []
    order = np.argsort(-dets[:, 4], kind="stable")
    sorted_dets = np.ascontiguousarray(dets[order])  # (N, 5) by descending score
    cdef float[:, ::1] boxes = sorted_dets
    keep_array = np.zeros(n, dtype=np.int32)
    cdef int[::1] keep = keep_array
    cdef int num_kept = 0
    cdef char err[512]
    err[0] = 0
    cdef int status
    cdef float thresh_f = thresh
    cdef int dim = sorted_dets.shape[1]
    with nogil:
        status = fcis_gpu_nms(&keep[0], &num_kept, &boxes[0, 0], n, dim, thresh_f,
                              device_id, err, 512)
    if status != 0:
        raise RuntimeError(err.decode("utf-8", "replace"))
    return order[keep_array[:num_kept]].tolist()
