# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: extra_compile_args = -O3 -ffp-contract=off
"""Compiled core of mask voting: weighted accumulation of ROI masks resampled into a region.

The arithmetic is exactly that of lib.masks.voting_numpy.vote_region_numpy (float32, same
operation order, no fused multiply-add), so the two give identical bits. The per-element
steps come from mask_voting_kernel.h, which the GPU twin (gpu_mask_voting) shares.
"""
import numpy as np


cdef extern from "mask_voting_kernel.h":
    void fcis_axis_tap(int src_len, int dst_len, int dst, int *s0, int *s1, float *c0,
                       float *c1) noexcept nogil
    float fcis_horizontal(const float *row, int s0x, int s1x, float c0x, float c1x) noexcept nogil
    float fcis_vertical(float h0, float h1, float c0y, float c1y) noexcept nogil
    float fcis_binarize(float value, float thresh) noexcept nogil
    float fcis_accumulate(float acc, float weight, float value) noexcept nogil
    unsigned char fcis_vote(float acc, float total, float thresh) noexcept nogil


cdef inline void axis_taps(int src_len, int dst_len, int start, int count, int *s0, int *s1,
                           float *c0, float *c1) noexcept nogil:
    """Bilinear taps (cv2.INTER_LINEAR, half-pixel centers) of destination pixels
    start..start+count-1 of a src_len -> dst_len resize; each tap is fcis_axis_tap."""
    cdef int d
    for d in range(count):
        fcis_axis_tap(src_len, dst_len, start + d, &s0[d], &s1[d], &c0[d], &c1[d])


def vote_region(const float[:, :, ::1] masks, const int[:, ::1] extents,
                const Py_ssize_t[::1] members, const float[::1] weights,
                int rx1, int ry1, int rx2, int ry2, float binary_thresh,
                bint binarize_inputs):
    """Weighted vote of member ROI masks inside the region rx1..rx2, ry1..ry2 (inclusive).

    masks: (N, S_h, S_w) float32 ROI mask probabilities
    extents: (N, 4) int32 integer box extents [x1, y1, x2, y2] of the ROIs (lib.masks.paste.box_extent)
    members: (M,) ROI indices taking part; weights: (M,) float32 > 0 in total
    Each member mask is resized bilinearly to its extent (as if pasted into the image);
    inside the region, optionally binarized (>= binary_thresh), multiplied by its weight and
    summed. returns: (ry2-ry1+1, rx2-rx1+1) uint8, sum / total weight >= binary_thresh.
    """
    cdef int rh = ry2 - ry1 + 1
    cdef int rw = rx2 - rx1 + 1
    if rh <= 0 or rw <= 0:
        raise ValueError("vote_region: empty region (%d, %d, %d, %d)" % (rx1, ry1, rx2, ry2))
    cdef Py_ssize_t num_members = members.shape[0]
    if weights.shape[0] != num_members:
        raise ValueError("vote_region: %d weights for %d members" % (weights.shape[0], num_members))
    cdef int src_h = masks.shape[1]
    cdef int src_w = masks.shape[2]
    acc_array = np.zeros((rh, rw), dtype=np.float32)
    cdef float[:, ::1] acc = acc_array
    hrows_array = np.zeros((src_h, rw), dtype=np.float32)  # horizontally resampled source rows
    cdef float[:, ::1] hrows = hrows_array
    xs0_array = np.zeros(rw, dtype=np.intc)
    xs1_array = np.zeros(rw, dtype=np.intc)
    ys0_array = np.zeros(rh, dtype=np.intc)
    ys1_array = np.zeros(rh, dtype=np.intc)
    xc0_array = np.zeros(rw, dtype=np.float32)
    xc1_array = np.zeros(rw, dtype=np.float32)
    yc0_array = np.zeros(rh, dtype=np.float32)
    yc1_array = np.zeros(rh, dtype=np.float32)
    cdef int[::1] xs0 = xs0_array, xs1 = xs1_array, ys0 = ys0_array, ys1 = ys1_array
    cdef float[::1] xc0 = xc0_array, xc1 = xc1_array, yc0 = yc0_array, yc1 = yc1_array
    out_array = np.zeros((rh, rw), dtype=np.uint8)
    cdef unsigned char[:, ::1] out = out_array

    cdef Py_ssize_t m, i
    cdef int bx1, by1, bx2, by2, x_lo, x_hi, y_lo, y_hi, nx, ny, x, y, r, oy, ox
    cdef float w, v, total = 0.0
    with nogil:
        for m in range(num_members):
            i = members[m]
            w = weights[m]
            total = total + w
            bx1 = extents[i, 0]
            by1 = extents[i, 1]
            bx2 = extents[i, 2]
            by2 = extents[i, 3]
            x_lo = bx1 if bx1 > rx1 else rx1
            x_hi = bx2 if bx2 < rx2 else rx2
            y_lo = by1 if by1 > ry1 else ry1
            y_hi = by2 if by2 < ry2 else ry2
            if x_hi < x_lo or y_hi < y_lo:
                continue  # no pixel of this member inside the region: it only adds weight
            nx = x_hi - x_lo + 1
            ny = y_hi - y_lo + 1
            axis_taps(src_w, bx2 - bx1 + 1, x_lo - bx1, nx, &xs0[0], &xs1[0], &xc0[0], &xc1[0])
            axis_taps(src_h, by2 - by1 + 1, y_lo - by1, ny, &ys0[0], &ys1[0], &yc0[0], &yc1[0])
            for r in range(ys0[0], ys1[ny - 1] + 1):
                for x in range(nx):
                    hrows[r, x] = fcis_horizontal(&masks[i, r, 0], xs0[x], xs1[x], xc0[x], xc1[x])
            oy = y_lo - ry1
            ox = x_lo - rx1
            for y in range(ny):
                for x in range(nx):
                    v = fcis_vertical(hrows[ys0[y], x], hrows[ys1[y], x], yc0[y], yc1[y])
                    if binarize_inputs:
                        v = fcis_binarize(v, binary_thresh)
                    acc[oy + y, ox + x] = fcis_accumulate(acc[oy + y, ox + x], w, v)
        for y in range(rh):
            for x in range(rw):
                out[y, x] = fcis_vote(acc[y, x], total, binary_thresh)
    return out_array


def crop_run_lengths(const unsigned char[:, ::1] crop, Py_ssize_t x1, Py_ssize_t y1,
                     Py_ssize_t im_h, Py_ssize_t im_w):
    """COCO run lengths of an (im_h, im_w) mask that is zero except ``crop`` at (x1, y1).

    crop: (h, w) uint8, nonzero = foreground, inside the image (checked by the caller,
    lib.masks.rle.encode_crop). Column-major order, first run zeros (possibly empty),
    alternating; the same counts lib.masks.rle.encode_crop computes with NumPy.
    returns: (n,) int64 run lengths.
    """
    cdef Py_ssize_t h = crop.shape[0]
    cdef Py_ssize_t w = crop.shape[1]
    if h == 0 or w == 0:
        return np.array([im_h * im_w], dtype=np.int64)
    runs_array = np.empty(w * (h + 2) + 2, dtype=np.int64)  # at most h + 2 runs per column
    cdef long long[::1] runs = runs_array
    cdef Py_ssize_t num = 0, x, y
    cdef long long count = x1 * im_h  # zeros of the columns left of the crop
    cdef unsigned char value = 0, v
    cdef Py_ssize_t below = im_h - y1 - h  # zeros under the crop in its columns
    cdef long long after = (im_w - x1 - w) * im_h  # zeros of the columns right of it
    with nogil:
        for x in range(w):
            if y1 > 0:  # zeros above the crop
                if value:
                    runs[num] = count
                    num += 1
                    count = 0
                    value = 0
                count += y1
            for y in range(h):
                v = 1 if crop[y, x] else 0
                if v != value:
                    runs[num] = count
                    num += 1
                    count = 0
                    value = v
                count += 1
            if below > 0:
                if value:
                    runs[num] = count
                    num += 1
                    count = 0
                    value = 0
                count += below
        if after > 0:
            if value:
                runs[num] = count
                num += 1
                count = 0
            count += after
        runs[num] = count
        num += 1
    return runs_array[:num]
