/*!
 * \file psroi_pooling.cc
 * \brief PSROIPooling for MXNet's external-library API: attributes, shapes, the OpenMP CPU
 *        forward/backward and the registration (GPU functions only with MXNET_FCIS_WITH_CUDA).
 *
 * inputs  data (N, output_dim*group_size^2, H, W), rois (R, 5)
 * output  (R, output_dim, pooled_size, pooled_size)
 * attrs   spatial_scale (float > 0), output_dim (int > 0), pooled_size (int > 0),
 *         group_size (int > 0, default pooled_size)
 * The arithmetic is in psroi_pooling.h; see there for the exact semantics. The CPU forward
 * reads data in place when there are few ROIs for the map's size; otherwise (FCIS: 600 ROIs)
 * it first copies data channels-last so that one bin sums all output_dim channels with
 * vector adds, in the same order, giving the same bits.
 */
#include <algorithm>
#include <cstring>
#include <vector>

#include "mxnet/lib_api.h"
#include "op_attrs.h"
#include "psroi_pooling/psroi_pooling.h"

using mxnet::ext::MXReturnValue;
using mxnet::ext::MXTensor;
using mxnet::ext::OpResource;
using mxnet::ext::MX_FAIL;
using mxnet::ext::MX_SUCCESS;

namespace fcis_ops {
namespace {

const char* const kOp = "PSROIPooling";

/*! \brief Reads and checks the four attributes into s. */
bool parse_psroi_attrs(const AttrMap& attrs, PSROIPoolingShape* s) {
  if (!check_known_attrs(kOp, attrs,
                         {"spatial_scale", "output_dim", "pooled_size", "group_size"})) {
    return false;
  }
  return parse_positive_float(kOp, attrs, "spatial_scale", &s->spatial_scale) &&
         parse_positive_int(kOp, attrs, "output_dim", 0, &s->output_dim) &&
         parse_positive_int(kOp, attrs, "pooled_size", 0, &s->pooled_size) &&
         parse_positive_int(kOp, attrs, "group_size", s->pooled_size, &s->group_size);
}

/*! \brief Checks data (N, C, H, W) and rois (R, 5) against the attributes; fills the sizes. */
template <typename T>
bool psroi_sizes(const std::vector<T>& data, const std::vector<T>& rois,
                 PSROIPoolingShape* s) {
  if (data.size() != 4) {
    FCIS_ERROR << kOp << ": input 'data' must be 4-D (N, output_dim*group_size^2, H, W), got "
               << shape_text(data);
    return false;
  }
  int64_t expected = static_cast<int64_t>(s->output_dim) * s->group_size * s->group_size;
  if (static_cast<int64_t>(data[1]) != expected) {
    FCIS_ERROR << kOp << ": attributes output_dim*group_size^2 = " << s->output_dim << "*"
               << s->group_size << "^2 = " << expected
               << " must equal the channels of 'data' " << shape_text(data);
    return false;
  }
  if (rois.size() != 2 || rois[1] != 5) {
    FCIS_ERROR << kOp << ": input 'rois' must be (R, 5) rows [batch_index, x1, y1, x2, y2], got "
               << shape_text(rois);
    return false;
  }
  s->batch = static_cast<int>(data[0]);
  s->channels = static_cast<int>(data[1]);
  s->height = static_cast<int>(data[2]);
  s->width = static_cast<int>(data[3]);
  s->num_rois = static_cast<int>(rois[0]);
  return true;
}

/*! \brief Attributes plus the sizes of inputs[0] (data) and inputs[1] (rois). */
bool psroi_setup(const AttrMap& attrs, const MXTensor& data, const MXTensor& rois,
                 PSROIPoolingShape* s) {
  return parse_psroi_attrs(attrs, s) && psroi_sizes(data.shape, rois.shape, s);
}

MXReturnValue parse_attrs(const AttrMap& attrs, int* num_inputs, int* num_outputs) {
  PSROIPoolingShape s;
  if (!parse_psroi_attrs(attrs, &s)) return MX_FAIL;
  *num_inputs = 2;
  *num_outputs = 1;
  return MX_SUCCESS;
}

MXReturnValue infer_type(const AttrMap& attrs, std::vector<int>* in_types,
                         std::vector<int>* out_types) {
  return infer_float32(kOp, {"data", "rois"}, in_types, out_types) ? MX_SUCCESS : MX_FAIL;
}

MXReturnValue infer_shape(const AttrMap& attrs, std::vector<std::vector<unsigned int>>* in,
                          std::vector<std::vector<unsigned int>>* out) {
  PSROIPoolingShape s;
  if (!parse_psroi_attrs(attrs, &s) || !shapes_known(kOp, *in, {"data", "rois"}) ||
      !psroi_sizes((*in)[0], (*in)[1], &s)) {
    return MX_FAIL;
  }
  unsigned int p = static_cast<unsigned int>(s.pooled_size);
  (*out)[0] = {static_cast<unsigned int>(s.num_rois), static_cast<unsigned int>(s.output_dim),
               p, p};
  return MX_SUCCESS;
}

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

/*! \brief data (N, output_dim*G*G, H, W) -> t (N, G*G, H, W, output_dim): input channel
 *         (c*G + gh)*G + gw goes to cell gh*G + gw, member c, so that the output_dim
 *         channels one bin reads are contiguous.
 */
void to_channels_last(const PSROIPoolingShape& s, const float* data, float* t) {
  const int cells = s.group_size * s.group_size;
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  const int D = s.output_dim;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < s.batch; ++b) {
    for (int cell = 0; cell < cells; ++cell) {
      const float* src = data + (static_cast<int64_t>(b) * s.channels + cell) * map_size;
      float* dst = t + (static_cast<int64_t>(b) * cells + cell) * map_size * D;
      for (int64_t p0 = 0; p0 < map_size; p0 += 16) {  // 16 pixels x D channels at a time
        const int64_t p1 = std::min(map_size, p0 + 16);
        for (int c = 0; c < D; ++c) {
          const float* row = src + c * cells * map_size;
          for (int64_t p = p0; p < p1; ++p) dst[p * D + c] = row[p];
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

/*! \brief out (R, output_dim, P, P). With many bins for the map's size the input is first
 *         copied channels-last (reused per thread across calls), else read in place.
 */
void forward_cpu_kernel(const PSROIPoolingShape& s, const float* data, const float* rois,
                        float* out) {
  const RoiBins bins = compute_bins(s, rois);
  const int64_t map_size = static_cast<int64_t>(s.height) * s.width;
  const int64_t bins_total = static_cast<int64_t>(s.num_rois) * s.pooled_size * s.pooled_size;
  const int64_t cells = static_cast<int64_t>(s.group_size) * s.group_size;
  if (bins_total * 4 < cells * map_size) {  // the copy would cost more than it saves
    forward_direct(s, bins, data, out);
    return;
  }
  thread_local std::vector<float> channels_last;  // one per engine thread, grows only
  const size_t size = static_cast<size_t>(s.batch) * s.channels * map_size;
  if (channels_last.size() < size) channels_last.resize(size);
  to_channels_last(s, data, channels_last.data());
  forward_channels_last(s, bins, channels_last.data(), out);
}

struct PlainAdd {
  void operator()(float* dst, float value) const { *dst += value; }
};

/*! \brief data_grad (N, C, H, W). One thread owns output channel c and with it the input
 *         channels [c*G^2, (c+1)*G^2) of every batch item: no atomics, and each pixel sums
 *         its contributions in ROI order, so the result does not depend on the thread count.
 */
void backward_cpu_kernel(const PSROIPoolingShape& s, const float* out_grad, const float* rois,
                         float* data_grad) {
  const RoiBins bins = compute_bins(s, rois);
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

MXReturnValue forward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[0], (*inputs)[1], &s)) return MX_FAIL;
  forward_cpu_kernel(s, (*inputs)[0].data<float>(), (*inputs)[1].data<float>(),
                     (*outputs)[0].data<float>());
  return MX_SUCCESS;
}

// Backward inputs: [out_grad, data, rois, out]; outputs: [data_grad, rois_grad].
MXReturnValue backward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[1], (*inputs)[2], &s)) return MX_FAIL;
  backward_cpu_kernel(s, (*inputs)[0].data<float>(), (*inputs)[2].data<float>(),
                      (*outputs)[0].data<float>());
  float* rois_grad = (*outputs)[1].data<float>();
  std::fill(rois_grad, rois_grad + (*outputs)[1].size(), 0.f);
  return MX_SUCCESS;
}

#ifdef MXNET_FCIS_WITH_CUDA
MXReturnValue forward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[0], (*inputs)[1], &s)) return MX_FAIL;
  const char* err = psroi_pooling_forward_gpu(s, (*inputs)[0].data<float>(),
                                              (*inputs)[1].data<float>(),
                                              (*outputs)[0].data<float>(),
                                              res.get_cuda_stream());
  if (err != nullptr) {
    FCIS_ERROR << kOp << ": CUDA forward failed: " << err;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}

MXReturnValue backward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[1], (*inputs)[2], &s)) return MX_FAIL;
  const char* err = psroi_pooling_backward_gpu(
      s, (*inputs)[0].data<float>(), (*inputs)[2].data<float>(), (*outputs)[0].data<float>(),
      (*outputs)[1].data<float>(), res.get_cuda_stream());
  if (err != nullptr) {
    FCIS_ERROR << kOp << ": CUDA backward failed: " << err;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}
#endif  // MXNET_FCIS_WITH_CUDA

}  // namespace
}  // namespace fcis_ops

REGISTER_OP(PSROIPooling)
    .setParseAttrs(fcis_ops::parse_attrs)
    .setInferType(fcis_ops::infer_type)
    .setInferShape(fcis_ops::infer_shape)
    .setForward(fcis_ops::forward_cpu, "cpu")
    .setBackward(fcis_ops::backward_cpu, "cpu")
#ifdef MXNET_FCIS_WITH_CUDA
    .setForward(fcis_ops::forward_gpu, "gpu")
    .setBackward(fcis_ops::backward_gpu, "gpu")
#endif
    ;  // NOLINT
