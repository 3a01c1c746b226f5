/*!
 * \file psroi_pooling.h
 * \brief PSROIPooling: shapes, the per-element arithmetic (shared by CPU and CUDA) and the
 *        CUDA launchers' declarations.
 *
 * Shapes:
 *   data   (N, output_dim * group_size^2, H, W)
 *   rois   (R, 5)  rows [batch_index, x1, y1, x2, y2] in image pixels
 *   output (R, output_dim, pooled_size, pooled_size)
 *
 * Output (n, c, ph, pw) is the mean of input channel (c * group + gh) * group + gw,
 * gh = ph * group / pooled, gw = pw * group / pooled (integer division), over the bin
 * (ph, pw) of ROI n. The ROI corners are rounded to whole pixels, the end gets +1, both are
 * scaled by spatial_scale; width and height are at least 0.1; bin edges are floor (start)
 * and ceil (end) clipped to the map; an empty bin gives 0. This is, float operation for
 * float operation, what mx.nd.contrib.PSROIPooling computes. A ROI whose batch index is
 * outside [0, N) gives 0 and receives no gradient.
 */
#ifndef FCIS_OPS_PSROI_POOLING_H_
#define FCIS_OPS_PSROI_POOLING_H_

#include "host_device.h"

namespace fcis_ops {

/*! \brief Attributes and tensor sizes of one PSROIPooling call. */
struct PSROIPoolingShape {
  float spatial_scale;
  int output_dim;
  int pooled_size;
  int group_size;
  int batch;     // N
  int channels;  // output_dim * group_size^2
  int height;    // H
  int width;     // W
  int num_rois;  // R
};

/*! \brief A ROI mapped onto the feature map: batch item, top-left corner and bin size. */
struct RoiWindow {
  int batch;
  float start_h;
  float start_w;
  float bin_h;
  float bin_w;
};

/*! \brief Half-open pixel range [lo, hi) of one bin along one axis. */
struct BinRange {
  int lo;
  int hi;
};

/*! \brief Maps ROI row [batch, x1, y1, x2, y2] to feature-map coordinates and bin sizes. */
FCIS_HOST_DEVICE inline RoiWindow psroi_window(const float* roi, float spatial_scale,
                                               int pooled_size) {
  RoiWindow win;
  win.batch = static_cast<int>(roi[0]);
  win.start_w = mul_rn(roundf(roi[1]), spatial_scale);
  win.start_h = mul_rn(roundf(roi[2]), spatial_scale);
  float end_w = mul_rn(add_rn(roundf(roi[3]), 1.f), spatial_scale);
  float end_h = mul_rn(add_rn(roundf(roi[4]), 1.f), spatial_scale);
  float roi_w = fmaxf(add_rn(end_w, -win.start_w), 0.1f);
  float roi_h = fmaxf(add_rn(end_h, -win.start_h), 0.1f);
  win.bin_w = roi_w / static_cast<float>(pooled_size);
  win.bin_h = roi_h / static_cast<float>(pooled_size);
  return win;
}

/*! \brief Pixel range of bin p along an axis: [floor(p*bin+start), ceil((p+1)*bin+start))
 *         clipped to [0, limit]. Clipping happens in float, so huge or NaN coordinates are safe.
 */
FCIS_HOST_DEVICE inline BinRange psroi_bin_range(int p, float bin_size, float start, int limit) {
  float lo = floorf(add_rn(mul_rn(static_cast<float>(p), bin_size), start));
  float hi = ceilf(add_rn(mul_rn(static_cast<float>(p + 1), bin_size), start));
  float top = static_cast<float>(limit);
  BinRange r;
  r.lo = static_cast<int>(fminf(fmaxf(lo, 0.f), top));
  r.hi = static_cast<int>(fminf(fmaxf(hi, 0.f), top));
  return r;
}

/*! \brief Position-sensitive group cell of bin p: p * group / pooled, in [0, group). */
FCIS_HOST_DEVICE inline int psroi_group_cell(int p, int pooled_size, int group_size) {
  return clamp_int(p * group_size / pooled_size, 0, group_size - 1);
}

/*! \brief Input channel read by output channel c at group cell (gh, gw). */
FCIS_HOST_DEVICE inline int psroi_input_channel(int c, int gh, int gw, int group_size) {
  return (c * group_size + gh) * group_size + gw;
}

/*! \brief Number of pixels of a bin; 0 when it is empty. */
FCIS_HOST_DEVICE inline int psroi_bin_area(BinRange h, BinRange w) {
  return (h.hi > h.lo && w.hi > w.lo) ? (h.hi - h.lo) * (w.hi - w.lo) : 0;
}

/*! \brief Mean of map (one (H, W) channel, row stride `width`) over a bin; 0 if empty. */
FCIS_HOST_DEVICE inline float psroi_bin_average(const float* map, int width, BinRange h,
                                                BinRange w) {
  int area = psroi_bin_area(h, w);
  if (area == 0) return 0.f;
  float sum = 0.f;
  for (int y = h.lo; y < h.hi; ++y) {
    const float* row = map + static_cast<int64_t>(y) * width;
    for (int x = w.lo; x < w.hi; ++x) sum = add_rn(sum, row[x]);
  }
  return sum / static_cast<float>(area);
}

/*! \brief Adds top_grad / area to every pixel of a bin of grad_map through `accumulate`
 *         (a FCIS_HOST_DEVICE functor `void operator()(float* dst, float value)`: plain +=
 *         on the CPU, atomicAdd in the CUDA kernels). Empty bins add nothing.
 */
template <typename Accumulate>
FCIS_HOST_DEVICE inline void psroi_bin_scatter(float* grad_map, int width, BinRange h,
                                               BinRange w, float top_grad,
                                               Accumulate accumulate) {
  int area = psroi_bin_area(h, w);
  if (area == 0) return;
  float share = top_grad / static_cast<float>(area);
  for (int y = h.lo; y < h.hi; ++y) {
    float* row = grad_map + static_cast<int64_t>(y) * width;
    for (int x = w.lo; x < w.hi; ++x) accumulate(row + x, share);
  }
}

// CPU forward and backward (psroi_pooling_cpu.cc): out (R, output_dim, P, P) and
// data_grad (N, C, H, W), both written whole.
void psroi_pooling_forward_cpu(const PSROIPoolingShape& s, const float* data, const float* rois,
                               float* out);
void psroi_pooling_backward_cpu(const PSROIPoolingShape& s, const float* out_grad,
                                const float* rois, float* data_grad);

// CUDA launchers (psroi_pooling.cu). They return nullptr on success, else a CUDA error text.
// `stream` is the cudaStream_t MXNet hands to the operator.
const char* psroi_pooling_forward_gpu(const PSROIPoolingShape& s, const float* data,
                                      const float* rois, float* out, void* stream);
const char* psroi_pooling_backward_gpu(const PSROIPoolingShape& s, const float* out_grad,
                                       const float* rois, float* data_grad, float* rois_grad,
                                       void* stream);

}  // namespace fcis_ops

#endif  // FCIS_OPS_PSROI_POOLING_H_
