# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: extra_compile_args = -O3 -ffp-contract=off
"""Compiled core of mask voting: weighted accumulation of ROI masks resampled into a region.

The arithmetic is exactly that of lib.masks.voting_numpy (vote_region_numpy,
vote_region_soft_numpy: float32 resampling, same operation order, no fused multiply-add), so
the two give identical bits. The per-element
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
    double fcis_accumulate_double(double acc, float weight, float value) noexcept nogil


cdef inline void axis_taps(int src_len, int dst_len, int start, int count, int *s0, int *s1,
                           float *c0, float *c1) noexcept nogil:
    """Bilinear taps (cv2.INTER_LINEAR, half-pixel centers) of destination pixels
    start..start+count-1 of a src_len -> dst_len resize; each tap is fcis_axis_tap."""
    cdef int d
    for d in range(count):
        fcis_axis_tap(src_len, dst_len, start + d, &s0[d], &s1[d], &c0[d], &c1[d])


cdef class _Resampler:
    """Scratch buffers for resizing member masks into a region of rh x rw pixels."""
    cdef float[:, ::1] hrows  # (src_h, rw) horizontally resampled source rows
    cdef float[:, ::1] vals   # (rh, rw) one member's (optionally binarized) values
    cdef int[::1] xs0, xs1, ys0, ys1
    cdef float[::1] xc0, xc1, yc0, yc1

    def __init__(self, int src_h, int rh, int rw):
        self.hrows = np.zeros((src_h, rw), dtype=np.float32)
        self.vals = np.zeros((rh, rw), dtype=np.float32)
        self.xs0 = np.zeros(rw, dtype=np.intc)
        self.xs1 = np.zeros(rw, dtype=np.intc)
        self.ys0 = np.zeros(rh, dtype=np.intc)
        self.ys1 = np.zeros(rh, dtype=np.intc)
        self.xc0 = np.zeros(rw, dtype=np.float32)
        self.xc1 = np.zeros(rw, dtype=np.float32)
        self.yc0 = np.zeros(rh, dtype=np.float32)
        self.yc1 = np.zeros(rh, dtype=np.float32)


cdef bint resample_member(_Resampler buf, const float[:, :, ::1] masks,
                          const int[:, ::1] extents, Py_ssize_t i, int rx1, int ry1, int rx2,
                          int ry2, float binary_thresh, bint binarize_inputs,
                          int *lo) noexcept nogil:
    """Values of member i's mask resized to its extent, inside the region: fills
    buf.vals[0:ny, 0:nx] and lo = [x_lo, y_lo, nx, ny] (image column/row of vals[0, 0]).
    Returns False when the member has no pixel in the region."""
    cdef int src_h = masks.shape[1], src_w = masks.shape[2]
    cdef int bx1 = extents[i, 0], by1 = extents[i, 1], bx2 = extents[i, 2], by2 = extents[i, 3]
    cdef int x_lo = bx1 if bx1 > rx1 else rx1
    cdef int x_hi = bx2 if bx2 < rx2 else rx2
    cdef int y_lo = by1 if by1 > ry1 else ry1
    cdef int y_hi = by2 if by2 < ry2 else ry2
    cdef int nx, ny, x, y, r
    cdef float v
    if x_hi < x_lo or y_hi < y_lo:
        return False
    nx = x_hi - x_lo + 1
    ny = y_hi - y_lo + 1
    axis_taps(src_w, bx2 - bx1 + 1, x_lo - bx1, nx, &buf.xs0[0], &buf.xs1[0], &buf.xc0[0],
              &buf.xc1[0])
    axis_taps(src_h, by2 - by1 + 1, y_lo - by1, ny, &buf.ys0[0], &buf.ys1[0], &buf.yc0[0],
              &buf.yc1[0])
    for r in range(buf.ys0[0], buf.ys1[ny - 1] + 1):
        for x in range(nx):
            buf.hrows[r, x] = fcis_horizontal(&masks[i, r, 0], buf.xs0[x], buf.xs1[x],
                                              buf.xc0[x], buf.xc1[x])
    for y in range(ny):
        for x in range(nx):
            v = fcis_vertical(buf.hrows[buf.ys0[y], x], buf.hrows[buf.ys1[y], x], buf.yc0[y],
                              buf.yc1[y])
            if binarize_inputs:
                v = fcis_binarize(v, binary_thresh)
            buf.vals[y, x] = v
    lo[0] = x_lo
    lo[1] = y_lo
    lo[2] = nx
    lo[3] = ny
    return True


def _check_region(name, members, weights, int rx1, int ry1, int rx2, int ry2):
    if ry2 < ry1 or rx2 < rx1:
        raise ValueError("%s: empty region (%d, %d, %d, %d)" % (name, rx1, ry1, rx2, ry2))
    if weights.shape[0] != members.shape[0]:
        raise ValueError("%s: %d weights for %d members"
                         % (name, weights.shape[0], members.shape[0]))


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
    _check_region("vote_region", members, weights, rx1, ry1, rx2, ry2)
    cdef int rh = ry2 - ry1 + 1
    cdef int rw = rx2 - rx1 + 1
    cdef _Resampler buf = _Resampler(masks.shape[1], rh, rw)
    acc_array = np.zeros((rh, rw), dtype=np.float32)
    cdef float[:, ::1] acc = acc_array
    out_array = np.zeros((rh, rw), dtype=np.uint8)
    cdef unsigned char[:, ::1] out = out_array
    cdef Py_ssize_t m
    cdef int lo[4]
    cdef int x, y
    cdef float w, total = 0.0
    with nogil:
        for m in range(members.shape[0]):
            w = weights[m]
            total = total + w
            if not resample_member(buf, masks, extents, members[m], rx1, ry1, rx2, ry2,
                                   binary_thresh, binarize_inputs, lo):
                continue  # no pixel of this member inside the region: it only adds weight
            for y in range(lo[3]):
                for x in range(lo[2]):
                    acc[lo[1] - ry1 + y, lo[0] - rx1 + x] = fcis_accumulate(
                        acc[lo[1] - ry1 + y, lo[0] - rx1 + x], w, buf.vals[y, x])
        for y in range(rh):
            for x in range(rw):
                out[y, x] = fcis_vote(acc[y, x], total, binary_thresh)
    return out_array


def vote_region_soft(const float[:, :, ::1] masks, const int[:, ::1] extents,
                     const Py_ssize_t[::1] members, const float[::1] weights,
                     int rx1, int ry1, int rx2, int ry2, float binary_thresh,
                     bint binarize_inputs):
    """Soft vote (the release's mask aggregation) inside the region rx1..rx2, ry1..ry2.

    Arguments as vote_region; weights are used as given (normalise them to sum 1 first).
    Each member mask is resized bilinearly to its extent, optionally binarized
    (>= binary_thresh) and weight * value is summed in float64 in member order.
    returns: (ry2-ry1+1, rx2-rx1+1) float64 weighted sums (no threshold).
    """
    _check_region("vote_region_soft", members, weights, rx1, ry1, rx2, ry2)
    cdef int rh = ry2 - ry1 + 1
    cdef int rw = rx2 - rx1 + 1
    cdef _Resampler buf = _Resampler(masks.shape[1], rh, rw)
    acc_array = np.zeros((rh, rw), dtype=np.float64)
    cdef double[:, ::1] acc = acc_array
    cdef Py_ssize_t m
    cdef int lo[4]
    cdef int x, y
    with nogil:
        for m in range(members.shape[0]):
            if not resample_member(buf, masks, extents, members[m], rx1, ry1, rx2, ry2,
                                   binary_thresh, binarize_inputs, lo):
                continue
            for y in range(lo[3]):
                for x in range(lo[2]):
                    acc[lo[1] - ry1 + y, lo[0] - rx1 + x] = fcis_accumulate_double(
                        acc[lo[1] - ry1 + y, lo[0] - rx1 + x], weights[m], buf.vals[y, x])
    return acc_array


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
