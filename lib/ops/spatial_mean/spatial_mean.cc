/*!
 * \file spatial_mean.cc
 * \brief SpatialMean for MXNet's external-library API: shapes, the OpenMP CPU
 *        forward/backward and the registration (GPU functions only with MXNET_FCIS_WITH_CUDA).
 *
 * attrs  none
 * input  data (N, C, ...) float32 with at least one axis after C, none of them empty
 * output (N, C): the mean over the axes after C (arithmetic in spatial_mean.h)
 */
#include <algorithm>
#include <vector>

#include "mxnet/lib_api.h"
#include "op_attrs.h"
#include "spatial_mean/spatial_mean.h"

namespace fcis_ops {
namespace {

const char* const kOp = "SpatialMean";

/*! \brief Checks data (N, C, ...) and fills the sizes. */
template <typename T>
bool mean_sizes(const std::vector<T>& data, SpatialMeanShape* s) {
  if (data.size() < 3) {
    FCIS_ERROR << kOp << ": input 'data' must be (N, C, ...) with at least 3 axes, got "
               << shape_text(data);
    return false;
  }
  s->rows = static_cast<int64_t>(data[0]) * static_cast<int64_t>(data[1]);
  s->count = 1;
  for (size_t i = 2; i < data.size(); ++i) s->count *= static_cast<int64_t>(data[i]);
  if (s->count == 0) {
    FCIS_ERROR << kOp << ": input 'data' " << shape_text(data)
               << " has no value to average (an axis after C is 0)";
    return false;
  }
  return true;
}

MXReturnValue parse_attrs(const AttrMap& attrs, int* num_inputs, int* num_outputs) {
  if (!check_known_attrs(kOp, attrs, {})) return MX_FAIL;
  *num_inputs = 1;
  *num_outputs = 1;
  return MX_SUCCESS;
}

MXReturnValue infer_type(const AttrMap& attrs, std::vector<int>* in_types,
                         std::vector<int>* out_types) {
  return infer_float32(kOp, {"data"}, in_types, out_types) ? MX_SUCCESS : MX_FAIL;
}

MXReturnValue infer_shape(const AttrMap& attrs, std::vector<std::vector<unsigned int>>* in,
                          std::vector<std::vector<unsigned int>>* out) {
  SpatialMeanShape s;
  if (!shapes_known(kOp, *in, {"data"}) || !mean_sizes((*in)[0], &s)) return MX_FAIL;
  (*out)[0] = {(*in)[0][0], (*in)[0][1]};
  return MX_SUCCESS;
}

/*! \brief out[r] = mean of row r; threads take blocks of kBlockRows rows (see
 *         kahan_mean_block), the rows past the last whole block one at a time. */
void mean_forward_cpu(const SpatialMeanShape& s, const float* data, float* out) {
  constexpr int kBlockRows = 8;
  const int64_t blocks = s.rows / kBlockRows;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r = b * kBlockRows;
    kahan_mean_block<kBlockRows>(data + r * s.count, s.count, out + r);
  }
  for (int64_t r = blocks * kBlockRows; r < s.rows; ++r) {
    out[r] = kahan_mean(data + r * s.count, s.count);
  }
}

MXReturnValue forward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  SpatialMeanShape s;
  if (!mean_sizes((*inputs)[0].shape, &s)) return MX_FAIL;
  mean_forward_cpu(s, (*inputs)[0].data<float>(), (*outputs)[0].data<float>());
  return MX_SUCCESS;
}

// Backward inputs: [out_grad, data, out]; outputs: [data_grad].
MXReturnValue backward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  SpatialMeanShape s;
  if (!mean_sizes((*inputs)[1].shape, &s)) return MX_FAIL;
  const float* out_grad = (*inputs)[0].data<float>();
  float* data_grad = (*outputs)[0].data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < s.rows; ++r) {
    std::fill_n(data_grad + r * s.count, s.count, mean_grad(out_grad[r], s.count));
  }
  return MX_SUCCESS;
}

#ifdef MXNET_FCIS_WITH_CUDA
MXReturnValue forward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  SpatialMeanShape s;
  if (!mean_sizes((*inputs)[0].shape, &s)) return MX_FAIL;
  const char* err = spatial_mean_forward_gpu(s, (*inputs)[0].data<float>(),
                                             (*outputs)[0].data<float>(), res.get_cuda_stream());
  return cuda_result(kOp, "forward", err);
}

MXReturnValue backward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  SpatialMeanShape s;
  if (!mean_sizes((*inputs)[1].shape, &s)) return MX_FAIL;
  const char* err = spatial_mean_backward_gpu(s, (*inputs)[0].data<float>(),
                                              (*outputs)[0].data<float>(), res.get_cuda_stream());
  return cuda_result(kOp, "backward", err);
}
#endif  // MXNET_FCIS_WITH_CUDA

}  // namespace
}  // namespace fcis_ops

FCIS_REGISTER_OP(SpatialMean);
