/*!
 * \file channel_operator.cc
 * \brief ChannelOperator for MXNet's external-library API: attributes, shapes, the OpenMP CPU
 *        forward/backward and the registration (GPU functions only with MXNET_FCIS_WITH_CUDA).
 *
 * attrs  op_type   Group_Max | Group_Softmax | Group_Pick (required)
 *        group     number of groups, must divide the channels of data (required)
 *        pick_type Label_Pick (default) | Score_Pick, used by Group_Pick only
 * inputs Group_Max, Group_Softmax: data (N, group*k, ...)             -- one input
 *        Group_Pick:               data (N, group*k, ...), pick_idx   -- two inputs
 *          Label_Pick: pick_idx (N,) float class labels
 *          Score_Pick: pick_idx (N, group) or (N, group, 1, 1) class scores
 * output Group_Max (N, group, ...), Group_Softmax (N, group*k, ...), Group_Pick (N, k, ...)
 * The per-pixel arithmetic is in channel_operator.h.
 */
#include <algorithm>
#include <cstring>
#include <vector>

#include "channel_operator/channel_operator.h"
#include "mxnet/lib_api.h"
#include "op_attrs.h"

namespace fcis_ops {
namespace {

const char* const kOp = "ChannelOperator";

bool parse_channel_attrs(const AttrMap& attrs, ChannelOpShape* s) {
  if (!check_known_attrs(kOp, attrs, {"op_type", "group", "pick_type"})) return false;
  return parse_choice(kOp, attrs, "op_type", {"Group_Max", "Group_Softmax", "Group_Pick"}, -1,
                      &s->op_type) &&
         parse_positive_int(kOp, attrs, "group", 0, &s->group) &&
         parse_choice(kOp, attrs, "pick_type", {"Label_Pick", "Score_Pick"}, kLabelPick,
                      &s->pick_type);
}

int num_inputs_of(const ChannelOpShape& s) { return s.op_type == kGroupPick ? 2 : 1; }

/*! \brief Checks data (and pick_idx for Group_Pick) against the attributes; fills sizes. */
template <typename T>
bool channel_sizes(const std::vector<std::vector<T>>& in, ChannelOpShape* s) {
  const std::vector<T>& data = in[0];
  if (data.size() < 2) {
    FCIS_ERROR << kOp << ": input 'data' must be (N, group*k, ...) with at least 2 axes, got "
               << shape_text(data);
    return false;
  }
  if (data[1] % s->group != 0) {
    FCIS_ERROR << kOp << ": attribute 'group' = " << s->group
               << " must divide the channels of 'data' " << shape_text(data);
    return false;
  }
  s->num = static_cast<int>(data[0]);
  s->k = static_cast<int>(data[1] / s->group);
  s->spatial = 1;
  for (size_t i = 2; i < data.size(); ++i) s->spatial *= static_cast<int64_t>(data[i]);
  if (s->op_type != kGroupPick) return true;
  const std::vector<T>& pick = in[1];
  int64_t size = 1;
  for (T d : pick) size *= static_cast<int64_t>(d);
  const int64_t per_item = s->pick_type == kScorePick ? s->group : 1;
  if (pick.empty() || static_cast<int64_t>(pick[0]) != s->num || size != s->num * per_item) {
    const char* expected = s->pick_type == kScorePick
                               ? "Score_Pick must be (N, group) or (N, group, 1, 1)"
                               : "Label_Pick must be (N,)";
    FCIS_ERROR << kOp << ": input 'pick_idx' for pick_type " << expected << " with N = "
               << s->num << ", group = " << s->group << ", got " << shape_text(pick);
    return false;
  }
  return true;
}

bool channel_setup(const AttrMap& attrs, const std::vector<MXTensor>& inputs, int first,
                   ChannelOpShape* s) {
  if (!parse_channel_attrs(attrs, s)) return false;
  std::vector<std::vector<int64_t>> shapes;
  for (int i = 0; i < num_inputs_of(*s); ++i) shapes.push_back(inputs[first + i].shape);
  return channel_sizes(shapes, s);
}

MXReturnValue parse_attrs(const AttrMap& attrs, int* num_inputs, int* num_outputs) {
  ChannelOpShape s;
  if (!parse_channel_attrs(attrs, &s)) return MX_FAIL;
  *num_inputs = num_inputs_of(s);
  *num_outputs = 1;
  return MX_SUCCESS;
}

MXReturnValue infer_type(const AttrMap& attrs, std::vector<int>* in_types,
                         std::vector<int>* out_types) {
  return infer_float32(kOp, {"data", "pick_idx"}, in_types, out_types) ? MX_SUCCESS : MX_FAIL;
}

MXReturnValue infer_shape(const AttrMap& attrs, std::vector<std::vector<unsigned int>>* in,
                          std::vector<std::vector<unsigned int>>* out) {
  ChannelOpShape s;
  if (!parse_channel_attrs(attrs, &s) || !shapes_known(kOp, *in, {"data", "pick_idx"}) ||
      !channel_sizes(*in, &s)) {
    return MX_FAIL;
  }
  std::vector<unsigned int> shape = (*in)[0];  // (N, group*k, ...)
  if (s.op_type == kGroupMax) shape[1] = static_cast<unsigned int>(s.group);  // (N, group, ...)
  if (s.op_type == kGroupPick) shape[1] = static_cast<unsigned int>(s.k);     // (N, k, ...)
  (*out)[0] = shape;
  return MX_SUCCESS;
}

/*! \brief Group_Max / Group_Softmax forward; threads split the (n, g) pairs. */
void group_forward_cpu(const ChannelOpShape& s, const float* data, float* out) {
  const int64_t S = s.spatial;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < s.num; ++n) {
    for (int g = 0; g < s.group; ++g) {
      const int64_t first = (static_cast<int64_t>(n) * s.group + g) * s.k * S;
      const float* x = data + first;
      if (s.op_type == kGroupMax) {
        float* y = out + (static_cast<int64_t>(n) * s.group + g) * S;
        if (s.k == 2) {
          // FCIS's case written so that the compiler vectorizes it: the member group_argmax
          // picks (the second only when strictly larger), as a select.
          const float* x1 = x + S;
          for (int64_t i = 0; i < S; ++i) y[i] = x1[i] > x[i] ? x1[i] : x[i];
        } else {
          for (int64_t i = 0; i < S; ++i) y[i] = x[i + group_argmax(x + i, s.k, S) * S];
        }
      } else {
        for (int64_t i = 0; i < S; ++i) group_softmax(x + i, out + first + i, s.k, S);
      }
    }
  }
}

/*! \brief Group_Max / Group_Softmax backward into data_grad (N, group*k, ...). */
void group_backward_cpu(const ChannelOpShape& s, const float* out_grad, const float* data,
                        const float* out, float* data_grad) {
  const int64_t S = s.spatial;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < s.num; ++n) {
    for (int g = 0; g < s.group; ++g) {
      const int64_t first = (static_cast<int64_t>(n) * s.group + g) * s.k * S;
      if (s.op_type == kGroupMax) {
        const float* dy = out_grad + (static_cast<int64_t>(n) * s.group + g) * S;
        if (s.k == 2) {
          // group_max_grad for k = 2 as selects (vectorizable): dy to the member picked.
          const float* x0 = data + first;
          const float* x1 = x0 + S;
          float* dx0 = data_grad + first;
          float* dx1 = dx0 + S;
          for (int64_t i = 0; i < S; ++i) {
            const bool second = x1[i] > x0[i];
            dx0[i] = second ? 0.f : dy[i];
            dx1[i] = second ? dy[i] : 0.f;
          }
        } else {
          for (int64_t i = 0; i < S; ++i) {
            group_max_grad(data + first + i, dy[i], data_grad + first + i, s.k, S);
          }
        }
      } else {
        for (int64_t i = 0; i < S; ++i) {
          group_softmax_grad(out + first + i, out_grad + first + i, data_grad + first + i, s.k,
                             S);
        }
      }
    }
  }
}

/*! \brief Group_Pick forward: out[n] (k, ...) = data[n, picked group] . */
void pick_forward_cpu(const ChannelOpShape& s, const float* data, const float* pick_idx,
                      float* out) {
  const int64_t block = s.k * s.spatial;  // one group's members of one item
#pragma omp parallel for schedule(static)
  for (int n = 0; n < s.num; ++n) {
    const int g = pick_group(s, pick_idx, n);
    const float* src = data + (static_cast<int64_t>(n) * s.group + g) * block;
    std::memcpy(out + n * block, src, sizeof(float) * block);
  }
}

/*! \brief Group_Pick backward: out_grad to the picked group's channels, 0 elsewhere. */
void pick_backward_cpu(const ChannelOpShape& s, const float* out_grad, const float* pick_idx,
                       float* data_grad) {
  const int64_t block = s.k * s.spatial;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < s.num; ++n) {
    const int picked = pick_group(s, pick_idx, n);
    for (int g = 0; g < s.group; ++g) {
      float* dst = data_grad + (static_cast<int64_t>(n) * s.group + g) * block;
      if (g == picked) {
        std::memcpy(dst, out_grad + n * block, sizeof(float) * block);
      } else {
        std::memset(dst, 0, sizeof(float) * block);
      }
    }
  }
}

MXReturnValue forward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  ChannelOpShape s;
  if (!channel_setup(attrs, *inputs, 0, &s)) return MX_FAIL;
  const float* data = (*inputs)[0].data<float>();
  float* out = (*outputs)[0].data<float>();
  if (s.op_type == kGroupPick) {
    pick_forward_cpu(s, data, (*inputs)[1].data<float>(), out);
  } else {
    group_forward_cpu(s, data, out);
  }
  return MX_SUCCESS;
}

// Backward inputs: [out_grad, data, (pick_idx,) out]; outputs: [data_grad, (pick_grad)].
MXReturnValue backward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  ChannelOpShape s;
  if (!channel_setup(attrs, *inputs, 1, &s)) return MX_FAIL;
  const float* out_grad = (*inputs)[0].data<float>();
  const float* data = (*inputs)[1].data<float>();
  float* data_grad = (*outputs)[0].data<float>();
  if (s.op_type == kGroupPick) {
    pick_backward_cpu(s, out_grad, (*inputs)[2].data<float>(), data_grad);
    float* pick_grad = (*outputs)[1].data<float>();
    std::fill(pick_grad, pick_grad + (*outputs)[1].size(), 0.f);
  } else {
    group_backward_cpu(s, out_grad, data, (*inputs)[2].data<float>(), data_grad);
  }
  return MX_SUCCESS;
}

#ifdef MXNET_FCIS_WITH_CUDA
MXReturnValue forward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  ChannelOpShape s;
  if (!channel_setup(attrs, *inputs, 0, &s)) return MX_FAIL;
  const float* pick = s.op_type == kGroupPick ? (*inputs)[1].data<float>() : nullptr;
  const char* err = channel_operator_forward_gpu(s, (*inputs)[0].data<float>(), pick,
                                                 (*outputs)[0].data<float>(),
                                                 res.get_cuda_stream());
  return cuda_result(kOp, "forward", err);
}

MXReturnValue backward_gpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  ChannelOpShape s;
  if (!channel_setup(attrs, *inputs, 1, &s)) return MX_FAIL;
  const bool pick = s.op_type == kGroupPick;
  const float* pick_idx = pick ? (*inputs)[2].data<float>() : nullptr;
  const float* out = (*inputs)[pick ? 3 : 2].data<float>();
  float* pick_grad = pick ? (*outputs)[1].data<float>() : nullptr;
  const char* err = channel_operator_backward_gpu(
      s, (*inputs)[0].data<float>(), (*inputs)[1].data<float>(), pick_idx, out,
      (*outputs)[0].data<float>(), pick_grad, res.get_cuda_stream());
  return cuda_result(kOp, "backward", err);
}
#endif  // MXNET_FCIS_WITH_CUDA

}  // namespace
}  // namespace fcis_ops

FCIS_REGISTER_OP(ChannelOperator);
