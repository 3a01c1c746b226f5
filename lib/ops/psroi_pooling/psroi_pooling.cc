/*!
 * \file psroi_pooling.cc
 * \brief PSROIPooling for MXNet's external-library API: attributes, shapes and the
 *        registration of the CPU functions (psroi_pooling_cpu.cc) and, with
 *        MXNET_FCIS_WITH_CUDA, the GPU ones (psroi_pooling.cu).
 *
 * inputs  data (N, output_dim*group_size^2, H, W), rois (R, 5)
 * output  (R, output_dim, pooled_size, pooled_size)
 * attrs   spatial_scale (float > 0), output_dim (int > 0), pooled_size (int > 0),
 *         group_size (int > 0, default pooled_size)
 * The arithmetic is in psroi_pooling.h; see there for the exact semantics.
 */
#include <algorithm>
#include <vector>

#include "mxnet/lib_api.h"
#include "op_attrs.h"
#include "psroi_pooling/psroi_pooling.h"

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

MXReturnValue forward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[0], (*inputs)[1], &s)) return MX_FAIL;
  psroi_pooling_forward_cpu(s, (*inputs)[0].data<float>(), (*inputs)[1].data<float>(),
                     (*outputs)[0].data<float>());
  return MX_SUCCESS;
}

// Backward inputs: [out_grad, data, rois, out]; outputs: [data_grad, rois_grad].
MXReturnValue backward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[1], (*inputs)[2], &s)) return MX_FAIL;
  psroi_pooling_backward_cpu(s, (*inputs)[0].data<float>(), (*inputs)[2].data<float>(),
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
  return cuda_result(kOp, "forward", err);
}

MXReturnValue backward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  PSROIPoolingShape s;
  if (!psroi_setup(attrs, (*inputs)[1], (*inputs)[2], &s)) return MX_FAIL;
  const char* err = psroi_pooling_backward_gpu(
      s, (*inputs)[0].data<float>(), (*inputs)[2].data<float>(), (*outputs)[0].data<float>(),
      (*outputs)[1].data<float>(), res.get_cuda_stream());
  return cuda_result(kOp, "backward", err);
}
#endif  // MXNET_FCIS_WITH_CUDA

}  // namespace
}  // namespace fcis_ops

FCIS_REGISTER_OP(PSROIPooling);
