/*
 * Per-element arithmetic of mask voting, shared by the CPU core (mask_voting_cython.pyx, C)
 * and the GPU kernel (mask_voting_kernel.cu, CUDA), so both compute the same float32 bits.
 *
 * Every product goes through FCIS_FMUL / FCIS_DMUL: plain products on the host (the C side is
 * compiled with -ffp-contract=off) and __fmul_rn / __dmul_rn in device code, which nvcc never
 * fuses into an FMA (the .cu is also compiled with --fmad=false). Additions are plain.
 */
#ifndef FCIS_MASK_VOTING_KERNEL_H_
#define FCIS_MASK_VOTING_KERNEL_H_

#include <math.h>

#ifdef __CUDACC__
#define FCIS_HOST_DEVICE __host__ __device__ inline
#else
#define FCIS_HOST_DEVICE static inline
#endif

#ifdef __CUDA_ARCH__
#define FCIS_FMUL(a, b) __fmul_rn((a), (b))
#define FCIS_DMUL(a, b) __dmul_rn((a), (b))
#else
#define FCIS_FMUL(a, b) ((a) * (b))
#define FCIS_DMUL(a, b) ((a) * (b))
#endif

/*
 * Bilinear tap of destination index dst (0 <= dst < dst_len) of a src_len -> dst_len resize
 * (cv2.INTER_LINEAR, half-pixel centers, clamped at both edges):
 *   value(dst) = src[*s0] * *c0 + src[*s1] * *c1.
 * pos is computed in double and rounded to float, the fraction in float.
 */
FCIS_HOST_DEVICE void fcis_axis_tap(int src_len, int dst_len, int dst, int *s0, int *s1,
                                    float *c0, float *c1) {
  const double scale = (double)src_len / (double)dst_len;
  const float pos = (float)(FCIS_DMUL((double)dst + 0.5, scale) - 0.5);
  int s = (int)floorf(pos);
  float frac = pos - (float)s;
  if (s < 0) {
    s = 0;
    frac = 0.0f;
  }
  if (s >= src_len - 1) {
    s = src_len - 1;
    frac = 0.0f;
  }
  *s0 = s;
  *s1 = s + 1 < src_len ? s + 1 : src_len - 1;
  *c0 = (float)(1.0 - (double)frac);
  *c1 = frac;
}

/* Horizontal pass: row is one (S_w,) source row; returns row[s0x] * c0x + row[s1x] * c1x. */
FCIS_HOST_DEVICE float fcis_horizontal(const float *row, int s0x, int s1x, float c0x,
                                       float c1x) {
  return FCIS_FMUL(row[s0x], c0x) + FCIS_FMUL(row[s1x], c1x);
}

/* Vertical pass over two horizontally resampled rows: h0 * c0y + h1 * c1y. */
FCIS_HOST_DEVICE float fcis_vertical(float h0, float h1, float c0y, float c1y) {
  return FCIS_FMUL(h0, c0y) + FCIS_FMUL(h1, c1y);
}

/* Optional input binarization: 1 when value >= thresh (inclusive), else 0. */
FCIS_HOST_DEVICE float fcis_binarize(float value, float thresh) {
  return value >= thresh ? 1.0f : 0.0f;
}

/* Weighted accumulation of one member's value: acc + weight * value. */
FCIS_HOST_DEVICE float fcis_accumulate(float acc, float weight, float value) {
  return acc + FCIS_FMUL(weight, value);
}

/* Final vote of one pixel: acc / total >= thresh (0 everywhere when total <= 0). */
FCIS_HOST_DEVICE unsigned char fcis_vote(float acc, float total, float thresh) {
  return total > 0.0f ? (unsigned char)(acc / total >= thresh) : (unsigned char)0;
}

/*
 * Value of one member's mask at image pixel (x, y) inside its extent ext [x1, y1, x2, y2]:
 * the vertical pass over the horizontal passes of source rows s0y and s1y (the same
 * expressions as the CPU's two passes), optionally binarized.
 *   mask: (src_h, src_w) float32
 */
FCIS_HOST_DEVICE float fcis_member_value(const float *mask, int src_h, int src_w,
                                         const int *ext, int x, int y, float binary_thresh,
                                         int binarize_inputs) {
  int s0x, s1x, s0y, s1y;
  float c0x, c1x, c0y, c1y, h0, h1, v;
  fcis_axis_tap(src_w, ext[2] - ext[0] + 1, x - ext[0], &s0x, &s1x, &c0x, &c1x);
  fcis_axis_tap(src_h, ext[3] - ext[1] + 1, y - ext[1], &s0y, &s1y, &c0y, &c1y);
  h0 = fcis_horizontal(mask + s0y * src_w, s0x, s1x, c0x, c1x);
  h1 = fcis_horizontal(mask + s1y * src_w, s0x, s1x, c0x, c1x);
  v = fcis_vertical(h0, h1, c0y, c1y);
  return binarize_inputs ? fcis_binarize(v, binary_thresh) : v;
}

/* True when image pixel (x, y) lies inside the extent ext [x1, y1, x2, y2] (inclusive). */
FCIS_HOST_DEVICE int fcis_inside(const int *ext, int x, int y) {
  return !(x < ext[0] || x > ext[2] || y < ext[1] || y > ext[3]);
}

/*
 * Weighted sums at one image pixel (x, y) as the GPU kernel computes them, one thread per
 * pixel: members in order (so the float sums are the CPU's); each member inside whose extent
 * the pixel lies adds weight * fcis_member_value to *acc. Every member adds its weight to
 * *total.
 *   masks: (num_masks, src_h, src_w) float32; extents: (num_masks, 4) int32 [x1, y1, x2, y2]
 *   members: (num_members,) indices into masks; weights: (num_members,) float32
 */
FCIS_HOST_DEVICE void fcis_pixel_sums(const float *masks, int src_h, int src_w,
                                      const int *extents, const long long *members,
                                      const float *weights, int num_members, int x, int y,
                                      float binary_thresh, int binarize_inputs, float *acc,
                                      float *total) {
  int m;
  *acc = 0.0f;
  *total = 0.0f;
  for (m = 0; m < num_members; ++m) {
    const long long i = members[m];
    const float w = weights[m];
    const int *ext = extents + i * 4;
    *total = *total + w;
    if (!fcis_inside(ext, x, y)) continue;
    *acc = fcis_accumulate(*acc, w, fcis_member_value(masks + i * src_h * src_w, src_h, src_w,
                                                      ext, x, y, binary_thresh,
                                                      binarize_inputs));
  }
}

/* Soft-vote accumulation in double: acc + (double)(weight * value), the product in float32
 * (exact for a binarized value, where it is the weight itself). */
FCIS_HOST_DEVICE double fcis_accumulate_double(double acc, float weight, float value) {
  return acc + (double)FCIS_FMUL(weight, value);
}

/*
 * Soft vote at image pixel (x, y) (the release's mask aggregation): the sum, in double and in
 * member order, of weight * fcis_member_value over the members whose extent holds the pixel.
 * The weights are used as given (the caller normalises them to sum 1); no threshold.
 * Arguments as fcis_pixel_sums.
 */
FCIS_HOST_DEVICE double fcis_soft_vote_pixel(const float *masks, int src_h, int src_w,
                                             const int *extents, const long long *members,
                                             const float *weights, int num_members, int x,
                                             int y, float binary_thresh, int binarize_inputs) {
  int m;
  double acc = 0.0;
  for (m = 0; m < num_members; ++m) {
    const long long i = members[m];
    const int *ext = extents + i * 4;
    if (!fcis_inside(ext, x, y)) continue;
    acc = fcis_accumulate_double(acc, weights[m],
                                 fcis_member_value(masks + i * src_h * src_w, src_h, src_w,
                                                   ext, x, y, binary_thresh, binarize_inputs));
  }
  return acc;
}

/* The voted value (0 or 1) of image pixel (x, y): fcis_pixel_sums, then fcis_vote. */
FCIS_HOST_DEVICE unsigned char fcis_vote_pixel(const float *masks, int src_h, int src_w,
                                               const int *extents, const long long *members,
                                               const float *weights, int num_members, int x,
                                               int y, float binary_thresh,
                                               int binarize_inputs) {
  float acc, total;
  fcis_pixel_sums(masks, src_h, src_w, extents, members, weights, num_members, x, y,
                  binary_thresh, binarize_inputs, &acc, &total);
  return fcis_vote(acc, total, binary_thresh);
}

#ifdef __cplusplus
extern "C" {
#endif

/*
 * GPU vote of member masks inside the region rx1..rx2, ry1..ry2 (inclusive), the same
 * contract as lib.masks.mask_voting_cython.vote_region:
 *   out:      (ry2-ry1+1, rx2-rx1+1) uint8 row-major, receives the voted mask
 *   masks:    (num_masks, src_h, src_w) float32 ROI mask probabilities
 *   extents:  (num_masks, 4) int32 [x1, y1, x2, y2] integer extents of the ROIs
 *   members:  (num_members,) ROI indices taking part; weights: (num_members,) float32
 * Returns 0 on success; otherwise writes "gpu_mask_voting: ..." into err (err_len bytes)
 * and returns 1.
 */
int fcis_gpu_vote_region(unsigned char *out, const float *masks, int num_masks, int src_h,
                         int src_w, const int *extents, const long long *members,
                         const float *weights, int num_members, int rx1, int ry1, int rx2,
                         int ry2, float binary_thresh, int binarize_inputs, int device_id,
                         char *err, int err_len);

/*
 * GPU soft vote (fcis_soft_vote_pixel) of member masks over the region rx1..rx2, ry1..ry2
 * (inclusive): the same arguments as fcis_gpu_vote_region except that out is
 *   out: (ry2-ry1+1, rx2-rx1+1) float64 row-major, receives the weighted sums
 * and that the weights are used as given (normalised by the caller). Returns 0 on success;
 * otherwise writes "gpu_mask_voting: ..." into err and returns 1.
 */
int fcis_gpu_vote_soft(double *out, const float *masks, int num_masks, int src_h, int src_w,
                       const int *extents, const long long *members, const float *weights,
                       int num_members, int rx1, int ry1, int rx2, int ry2, float binary_thresh,
                       int binarize_inputs, int device_id, char *err, int err_len);

#ifdef __cplusplus
}
#endif

#endif /* FCIS_MASK_VOTING_KERNEL_H_ */
