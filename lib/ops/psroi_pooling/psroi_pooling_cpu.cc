/*!
 * \file psroi_pooling_cpu.cc
 * \brief The OpenMP CPU forward and backward of PSROIPooling (declared in psroi_pooling.h,
 *        arithmetic per element there too).
 *
 * Both directions work in one of two layouts, picked by the number of bins for the map's
 * size (uses_channels_last): with few bins they read and write data (N, C, H, W) in place;
 * with many (FCIS: 100-600 ROIs x 21 x 21 bins on a small map) they go through a
 * channels-last copy (N, G*G, H, W, output_dim), where one bin touches all output_dim
 * channels of a pixel with vector instructions. Both layouts do the same float operations
 * in the same order, so they give the same bits, whatever the thread count.
 */
#include <algorithm>
#include <cstring>
#include <vector>

#include "psroi_pooling/psroi_pooling.h"

namespace fcis_ops {
namespace {

/*! \brief Per-ROI bin ranges, computed once per call: batch[n] (-1: ROI ignored),
 *         rows[n*P + ph] and cols[n*P + pw].
 */
struct RoiBins {
  std::vector<int> batch;
  std::vector<BinRange> rows;
  std::vector<BinRange> cols;
  std::vector<int> cell;  // cell[p]: group cell of bin p
};

RoiBins compute_bins(const PSROIPoolingShape& s, const float* rois) {
  const int P = s.pooled_size;
  RoiBins bins;
  bins.batch.resize(s.num_rois);
  bins.rows.resize(static_cast<size_t>(s.num_rois) * P);
  bins.cols.resize(static_cast<size_t>(s.num_rois) * P);
  bins.cell.resize(P);
  for (int p = 0; p < P; ++p) bins.cell[p] = psroi_group_cell(p, P, s.group_size);
  for (int n = 0; n < s.num_rois; ++n) {
    RoiWindow win = psroi_window(rois + 5 * static_cast<int64_t>(n), s.spatial_scale, P);
    bins.batch[n] = (win.batch >= 0 && win.batch < s.batch) ? win.batch : -1;
    const size_t first = static_cast<size_t>(n) * P;
    for (int p = 0; p < P; ++p) {
      bins.rows[first + p] = psroi_bin_range(p, win.bin_h, win.start_h, s.height);
      bins.cols[first + p] = psroi_bin_range(p, win.bin_w, win.start_w, s.width);
    }
  }
  return bins;
}

// Per-ROI pooling compiled for several x86-64 vector widths (GCC/Clang function clones).
#if defined(__x86_64__) && defined(__GNUC__)
#define FCIS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FCIS_VECTOR_CLONES
#endif

/*! \brief out (R, output_dim, P, P), reading data in its own layout; threads split the
 *         (c, n) pairs, c outermost. Used when there are few ROIs for the map's size.
 */
void forward_direct(const PSROIPoolingShape& s, const RoiBins& bins, const float* data,
                    float* out) {
  const int P = s.pooled_size;
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
#pragma omp parallel for collapse(2) schedule(static)
  for (int c = 0; c < s.output_dim; ++c) {
    for (int n = 0; n < s.num_rois; ++n) {
      float* o = out + (static_cast<int64_t>(n) * s.output_dim + c) * P * P;
      const int b = bins.batch[n];
      if (b < 0) {
        std::fill(o, o + P * P, 0.f);
        continue;
      }
      const float* image = data + static_cast<int64_t>(b) * s.channels * map_size;
      const BinRange* rows = &bins.rows[static_cast<size_t>(n) * P];
      const BinRange* cols = &bins.cols[static_cast<size_t>(n) * P];
      for (int ph = 0; ph < P; ++ph) {
        const int row_channel = psroi_input_channel(c, bins.cell[ph], 0, s.group_size);
        for (int pw = 0; pw < P; ++pw) {
          const float* map = image + (row_channel + bins.cell[pw]) * map_size;
          o[ph * P + pw] = psroi_bin_average(map, s.width, rows[ph], cols[pw]);
        }
      }
    }
  }
}

/*! \brief The planar layout (N, output_dim*G*G, H, W) and the channels-last one
 *         (N, G*G, H, W, output_dim) of the same map: input channel (c*G + gh)*G + gw is
 *         member c of cell gh*G + gw, so the output_dim channels one bin touches are
 *         contiguous. kToChannelsLast: src planar, dst channels-last; else the inverse.
 */
template <bool kToChannelsLast>
void transpose_cells(const PSROIPoolingShape& s, const float* src, float* dst) {
  const int cells = s.group_size * s.group_size;
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  const int D = s.output_dim;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < s.batch; ++b) {
    for (int cell = 0; cell < cells; ++cell) {
      const int64_t planar = (static_cast<int64_t>(b) * s.channels + cell) * map_size;
      const int64_t last = (static_cast<int64_t>(b) * cells + cell) * map_size * D;
      for (int64_t p0 = 0; p0 < map_size; p0 += 16) {  // 16 pixels x D channels at a time
        const int64_t p1 = std::min(map_size, p0 + 16);
        for (int c = 0; c < D; ++c) {
          const int64_t row = planar + static_cast<int64_t>(c) * cells * map_size;
          for (int64_t p = p0; p < p1; ++p) {
            if (kToChannelsLast) {
              dst[last + p * D + c] = src[row + p];
            } else {
              dst[row + p] = src[last + p * D + c];
            }
          }
        }
      }
    }
  }
}

/*! \brief Mean over one bin of channels [c0, c0 + B) of the channels-last map `image`
 *         (H, W, D) into dst[0..B): the pixels are summed in the order psroi_bin_average
 *         uses (rows, then columns, from 0.f), then divided by the area, so every value is
 *         bit for bit that of psroi_bin_average. B is a compile-time block so the partial
 *         sums stay in vector registers.
 */
template <int B>
inline void bin_mean_block(const float* image, int width, int D, BinRange rows,
                           BinRange cols, int c0, float denom, float* dst) {
  float acc[B];
  for (int k = 0; k < B; ++k) acc[k] = 0.f;
  for (int y = rows.lo; y < rows.hi; ++y) {
    for (int x = cols.lo; x < cols.hi; ++x) {
      const float* px = image + (static_cast<int64_t>(y) * width + x) * D + c0;
      for (int k = 0; k < B; ++k) acc[k] = add_rn(acc[k], px[k]);
    }
  }
  for (int k = 0; k < B; ++k) dst[k] = acc[k] / denom;
}

/*! \brief The (P, P, D) bin means of ROI n from the channels-last copy t into bins_out.
 *         On x86-64 compiled for AVX-512, AVX2 and the baseline (picked at load time);
 *         only adds and divides, so every version gives the same bits.
 */
FCIS_VECTOR_CLONES
void pool_roi_channels_last(const PSROIPoolingShape& s, const RoiBins& bins, int n,
                            const float* t, float* bins_out) {
  const int P = s.pooled_size;
  const int D = s.output_dim;
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  const int b = bins.batch[n];
  for (int ph = 0; ph < P; ++ph) {
    const BinRange rows = bins.rows[static_cast<size_t>(n) * P + ph];
    for (int pw = 0; pw < P; ++pw) {
      float* dst = bins_out + (static_cast<int64_t>(ph) * P + pw) * D;
      const BinRange cols = bins.cols[static_cast<size_t>(n) * P + pw];
      const int area = b < 0 ? 0 : psroi_bin_area(rows, cols);
      if (area == 0) {
        for (int c = 0; c < D; ++c) dst[c] = 0.f;
        continue;
      }
      const int cell = bins.cell[ph] * s.group_size + bins.cell[pw];
      const float* image =
          t + (static_cast<int64_t>(b) * s.group_size * s.group_size + cell) * map_size * D;
      const float denom = static_cast<float>(area);
      int c = 0;
      for (; c + 32 <= D; c += 32) {
        bin_mean_block<32>(image, s.width, D, rows, cols, c, denom, dst + c);
      }
      for (; c + 8 <= D; c += 8) {
        bin_mean_block<8>(image, s.width, D, rows, cols, c, denom, dst + c);
      }
      for (; c < D; ++c) bin_mean_block<1>(image, s.width, D, rows, cols, c, denom, dst + c);
    }
  }
}

/*! \brief out (R, output_dim, P, P) from the channels-last copy t: threads take whole ROIs,
 *         pool them channels-last into a per-thread (P*P, D) buffer and transpose it out.
 */
void forward_channels_last(const PSROIPoolingShape& s, const RoiBins& bins, const float* t,
                           float* out) {
  const int PP = s.pooled_size * s.pooled_size;
  const int D = s.output_dim;
#pragma omp parallel
  {
    thread_local std::vector<float> bins_out;  // (P*P, D), reused across calls
    const size_t size = static_cast<size_t>(PP) * D;
    if (bins_out.size() < size) bins_out.resize(size);
#pragma omp for schedule(dynamic, 4)
    for (int n = 0; n < s.num_rois; ++n) {
      pool_roi_channels_last(s, bins, n, t, bins_out.data());
      float* o = out + static_cast<int64_t>(n) * D * PP;  // (D, P*P)
      for (int c0 = 0; c0 < D; c0 += 16) {  // 16 channels x P*P bins at a time
        const int c1 = std::min(D, c0 + 16);
        for (int p = 0; p < PP; ++p) {
          const float* in = &bins_out[static_cast<size_t>(p) * D];
          for (int c = c0; c < c1; ++c) o[static_cast<int64_t>(c) * PP + p] = in[c];
        }
      }
    }
  }
}

struct PlainAdd {
  void operator()(float* dst, float value) const { *dst += value; }
};

/*! \brief Marks the ROIs whose output gradient is all zeros as ignored (batch -1), so the
 *         backward skips them: the same bits, since their pixels would only add +-0 to sums
 *         that start at +0.f, and x + (+-0) == x for every such x. A NaN is a gradient.
 *         (OHEM leaves about a third of the ROIs without a gradient.)
 */
void ignore_rois_without_gradient(const PSROIPoolingShape& s, const float* out_grad,
                                  RoiBins* bins) {
  const int64_t per_roi = static_cast<int64_t>(s.output_dim) * s.pooled_size * s.pooled_size;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < s.num_rois; ++n) {
    const float* g = out_grad + n * per_roi;
    bool silent = true;
    for (int64_t i = 0; i < per_roi && silent; ++i) silent = g[i] == 0.f;
    if (silent) bins->batch[n] = -1;
  }
}

/*! \brief data_grad (N, C, H, W) written in place. One thread owns output channel c and
 *         with it the input channels [c*G^2, (c+1)*G^2) of every batch item: no atomics, and
 *         each pixel sums its contributions in (ROI, ph, pw) order, so the result does not
 *         depend on the thread count. Used when there are few ROIs for the map's size.
 */
void backward_direct(const PSROIPoolingShape& s, const RoiBins& bins, const float* out_grad,
                     float* data_grad) {
  const int P = s.pooled_size;
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  const int64_t block = static_cast<int64_t>(s.group_size) * s.group_size * map_size;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.output_dim; ++c) {
    for (int b = 0; b < s.batch; ++b) {
      float* owned = data_grad + static_cast<int64_t>(b) * s.channels * map_size + c * block;
      std::memset(owned, 0, sizeof(float) * block);
    }
    for (int n = 0; n < s.num_rois; ++n) {
      const int b = bins.batch[n];
      if (b < 0) continue;
      const float* g = out_grad + (static_cast<int64_t>(n) * s.output_dim + c) * P * P;
      float* image = data_grad + static_cast<int64_t>(b) * s.channels * map_size;
      const BinRange* rows = &bins.rows[static_cast<size_t>(n) * P];
      const BinRange* cols = &bins.cols[static_cast<size_t>(n) * P];
      for (int ph = 0; ph < P; ++ph) {
        const int row_channel = psroi_input_channel(c, bins.cell[ph], 0, s.group_size);
        for (int pw = 0; pw < P; ++pw) {
          float* map = image + (row_channel + bins.cell[pw]) * map_size;
          psroi_bin_scatter(map, s.width, rows[ph], cols[pw], g[ph * P + pw], PlainAdd());
        }
      }
    }
  }
}

/*! \brief out_grad (R, D, P, P) -> g (R, P*P, D): the output_dim gradients of one bin
 *         become contiguous (ignored ROIs are left out).
 */
void grad_to_bins_last(const PSROIPoolingShape& s, const RoiBins& bins, const float* out_grad,
                       float* g) {
  const int PP = s.pooled_size * s.pooled_size;
  const int D = s.output_dim;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < s.num_rois; ++n) {
    if (bins.batch[n] < 0) continue;
    const float* src = out_grad + static_cast<int64_t>(n) * D * PP;
    float* dst = g + static_cast<int64_t>(n) * PP * D;
    for (int c = 0; c < D; ++c) {
      for (int p = 0; p < PP; ++p) dst[p * D + c] = src[c * PP + p];
    }
  }
}

/*! \brief Adds the bins of cell (gh, gw) of every ROI, in (ROI, ph, pw) order, to the
 *         channels-last gradient t (N, G*G, H, W, D) (zeroed before): each pixel of a bin
 *         gets top_grad / area on all D channels, as psroi_bin_scatter adds it. g is
 *         (R, P*P, D) (grad_to_bins_last).
 */
FCIS_VECTOR_CLONES
void scatter_cell_channels_last(const PSROIPoolingShape& s, const RoiBins& bins, int gh,
                                int gw, const float* g, float* t) {
  const int P = s.pooled_size;
  const int D = s.output_dim;
  const int cells = s.group_size * s.group_size;
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  std::vector<float> share(D);
  for (int n = 0; n < s.num_rois; ++n) {
    const int b = bins.batch[n];
    if (b < 0) continue;
    float* image = t + (static_cast<int64_t>(b) * cells + gh * s.group_size + gw) * map_size * D;
    for (int ph = 0; ph < P; ++ph) {
      if (bins.cell[ph] != gh) continue;
      const BinRange rows = bins.rows[static_cast<size_t>(n) * P + ph];
      for (int pw = 0; pw < P; ++pw) {
        if (bins.cell[pw] != gw) continue;
        const BinRange cols = bins.cols[static_cast<size_t>(n) * P + pw];
        const int area = psroi_bin_area(rows, cols);
        if (area == 0) continue;
        const float* top = g + (static_cast<int64_t>(n) * P * P + ph * P + pw) * D;
        for (int c = 0; c < D; ++c) share[c] = top[c] / static_cast<float>(area);
        for (int y = rows.lo; y < rows.hi; ++y) {
          for (int x = cols.lo; x < cols.hi; ++x) {
            float* px = image + (static_cast<int64_t>(y) * s.width + x) * D;
            for (int c = 0; c < D; ++c) px[c] = add_rn(px[c], share[c]);
          }
        }
      }
    }
  }
}

/*! \brief data_grad (N, C, H, W) through the channels-last gradient: threads take whole
 *         cells (each pixel of a cell then sums in (ROI, ph, pw) order, as in
 *         backward_direct).
 */
void backward_channels_last(const PSROIPoolingShape& s, const RoiBins& bins,
                            const float* out_grad, float* data_grad) {
  const int cells = s.group_size * s.group_size;
  thread_local std::vector<float> g;  // (R, P*P, D)
  thread_local std::vector<float> t;  // (N, G*G, H, W, D)
  const size_t g_size = static_cast<size_t>(s.num_rois) * s.pooled_size * s.pooled_size *
                        s.output_dim;
  const size_t t_size = static_cast<size_t>(s.batch) * s.channels * s.height * s.width;
  if (g.size() < g_size) g.resize(g_size);
  if (t.size() < t_size) t.resize(t_size);
  grad_to_bins_last(s, bins, out_grad, g.data());
  std::memset(t.data(), 0, sizeof(float) * t_size);
  float* t_data = t.data();
  const float* g_data = g.data();
#pragma omp parallel for schedule(dynamic, 1)
  for (int cell = 0; cell < cells; ++cell) {
    scatter_cell_channels_last(s, bins, cell / s.group_size, cell % s.group_size, g_data,
                               t_data);
  }
  transpose_cells<false>(s, t_data, data_grad);
}

/*! \brief True when the bins are many for the map's size: a channels-last copy of the map
 *         then costs less than it saves.
 */
bool uses_channels_last(const PSROIPoolingShape& s) {
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  const int64_t bins_total = static_cast<int64_t>(s.num_rois) * s.pooled_size * s.pooled_size;
  const int64_t cells = static_cast<int64_t>(s.group_size) * s.group_size;
  return bins_total * 4 >= cells * map_size;
}

}  // namespace

void psroi_pooling_forward_cpu(const PSROIPoolingShape& s, const float* data, const float* rois,
                               float* out) {
  const RoiBins bins = compute_bins(s, rois);
  if (!uses_channels_last(s)) {
    forward_direct(s, bins, data, out);
    return;
  }
  thread_local std::vector<float> channels_last;  // one per engine thread, grows only
  const size_t size = static_cast<size_t>(s.batch) * s.channels * s.height * s.width;
  if (channels_last.size() < size) channels_last.resize(size);
  transpose_cells<true>(s, data, channels_last.data());
  forward_channels_last(s, bins, channels_last.data(), out);
}

void psroi_pooling_backward_cpu(const PSROIPoolingShape& s, const float* out_grad,
                                const float* rois, float* data_grad) {
  RoiBins bins = compute_bins(s, rois);
  ignore_rois_without_gradient(s, out_grad, &bins);
  if (uses_channels_last(s)) {
    backward_channels_last(s, bins, out_grad, data_grad);
  } else {
    backward_direct(s, bins, out_grad, data_grad);
  }
}

}  // namespace fcis_ops
