# cython: language_level=3
"""GPU twins of lib.masks.mask_voting_cython.vote_region and vote_region_soft (built only
when MXNet has CUDA);
see mask_voting_kernel.cu. The per-element float32 arithmetic is the CPU core's
(mask_voting_kernel.h); the per-pixel formulation gives the CPU's bits when compiled for the
CPU (tests/lib/masks/test_mask_voting_gpu_build.py); the GPU itself has not been run."""
import numpy as np


cdef extern from "mask_voting_kernel.h":
    int fcis_gpu_vote_region(unsigned char *out, const float *masks, int num_masks, int src_h,
                             int src_w, const int *extents, const long long *members,
                             const float *weights, int num_members, int rx1, int ry1, int rx2,
                             int ry2, float binary_thresh, int binarize_inputs, int device_id,
                             char *err, int err_len) nogil
    int fcis_gpu_vote_soft(double *out, const float *masks, int num_masks, int src_h,
                           int src_w, const int *extents, const long long *members,
                           const float *weights, int num_members, int rx1, int ry1, int rx2,
                           int ry2, float binary_thresh, int binarize_inputs, int device_id,
                           char *err, int err_len) nogil


def _checked_region(name, masks, extents, members, weights, int rx1, int ry1, int rx2,
                    int ry2):
    """(rows, cols) of the region, after checking the arguments of ``name`` (one-line
    ValueErrors naming the function)."""
    cdef int rh = ry2 - ry1 + 1
    cdef int rw = rx2 - rx1 + 1
    if rh <= 0 or rw <= 0:
        raise ValueError("%s: empty region (%d, %d, %d, %d)" % (name, rx1, ry1, rx2, ry2))
    if weights.shape[0] != members.shape[0]:
        raise ValueError("%s: %d weights for %d members"
                         % (name, weights.shape[0], members.shape[0]))
    if extents.shape[0] != masks.shape[0] or extents.shape[1] != 4:
        raise ValueError("%s: extents must be (N, 4) with N = %d masks, got (%d, %d)"
                         % (name, masks.shape[0], extents.shape[0], extents.shape[1]))
    if members.shape[0] and (masks.shape[0] == 0 or masks.shape[1] == 0 or masks.shape[2] == 0):
        raise ValueError("%s: %d members but masks has shape (%d, %d, %d)"
                         % (name, members.shape[0], masks.shape[0], masks.shape[1],
                            masks.shape[2]))
    return rh, rw


def vote_region_gpu(const float[:, :, ::1] masks, const int[:, ::1] extents,
                    const long long[::1] members, const float[::1] weights,
                    int rx1, int ry1, int rx2, int ry2, float binary_thresh,
                    bint binarize_inputs, int device_id=0):
    """Weighted vote of member ROI masks inside the region rx1..rx2, ry1..ry2 (inclusive),
    computed on GPU `device_id`; same contract as lib.masks.mask_voting_cython.vote_region.

    masks: (N, S_h, S_w) float32 ROI mask probabilities
    extents: (N, 4) int32 integer box extents [x1, y1, x2, y2] of the ROIs
    members: (M,) int64 (np.intp) ROI indices taking part; weights: (M,) float32
    returns: (ry2-ry1+1, rx2-rx1+1) uint8, weighted average of the (optionally binarized)
        resized member masks >= binary_thresh.
    Raises ValueError on an empty region or M mismatch, RuntimeError (the kernel's message,
    e.g. "gpu_mask_voting: cudaSetDevice failed: ...") when the GPU call fails.
    """
    rh, rw = _checked_region("vote_region_gpu", masks, extents, members, weights, rx1, ry1,
                             rx2, ry2)
    cdef int num_members = members.shape[0]
    out_array = np.zeros((rh, rw), dtype=np.uint8)
    if num_members == 0:
        return out_array  # no weight at all: nothing votes
    cdef unsigned char[:, ::1] out = out_array
    cdef unsigned char *out_ptr = &out[0, 0]
    cdef const float *masks_ptr = &masks[0, 0, 0]
    cdef const int *extents_ptr = &extents[0, 0]
    cdef const long long *members_ptr = &members[0]
    cdef const float *weights_ptr = &weights[0]
    cdef int num_masks = masks.shape[0], src_h = masks.shape[1], src_w = masks.shape[2]
    cdef char err[512]
    err[0] = 0
    cdef int status
    with nogil:
        status = fcis_gpu_vote_region(out_ptr, masks_ptr, num_masks, src_h, src_w, extents_ptr,
                                      members_ptr, weights_ptr, num_members, rx1, ry1, rx2,
                                      ry2, binary_thresh, binarize_inputs, device_id, err, 512)
    if status != 0:
        raise RuntimeError(err.decode("utf-8", "replace"))
    return out_array


def vote_region_soft_gpu(const float[:, :, ::1] masks, const int[:, ::1] extents,
                         const long long[::1] members, const float[::1] weights,
                         int rx1, int ry1, int rx2, int ry2, float binary_thresh,
                         bint binarize_inputs, int device_id=0):
    """Soft vote on GPU `device_id`; same contract as
    lib.masks.mask_voting_cython.vote_region_soft (weights used as given).

    returns: (ry2-ry1+1, rx2-rx1+1) float64 weighted sums.
    Raises ValueError on an empty region or M mismatch, RuntimeError when the GPU call fails.
    """
    rh, rw = _checked_region("vote_region_soft_gpu", masks, extents, members, weights, rx1,
                             ry1, rx2, ry2)
    cdef int num_members = members.shape[0]
    out_array = np.zeros((rh, rw), dtype=np.float64)
    if num_members == 0:
        return out_array
    cdef double[:, ::1] out = out_array
    cdef double *out_ptr = &out[0, 0]
    cdef const float *masks_ptr = &masks[0, 0, 0]
    cdef const int *extents_ptr = &extents[0, 0]
    cdef const long long *members_ptr = &members[0]
    cdef const float *weights_ptr = &weights[0]
    cdef int num_masks = masks.shape[0], src_h = masks.shape[1], src_w = masks.shape[2]
    cdef char err[512]
    err[0] = 0
    cdef int status
    with nogil:
        status = fcis_gpu_vote_soft(out_ptr, masks_ptr, num_masks, src_h, src_w, extents_ptr,
                                    members_ptr, weights_ptr, num_members, rx1, ry1, rx2, ry2,
                                    binary_thresh, binarize_inputs, device_id, err, 512)
    if status != 0:
        raise RuntimeError(err.decode("utf-8", "replace"))
    return out_array
