/*!
 * \file multi_sgd.cc
 * \brief MultiSGDMom for MXNet's external-library API: attributes, shapes, the OpenMP CPU
 *        update (arithmetic in multi_sgd.h) and the registration. No gradient, no GPU.
 *
 * attrs   num_weights  n >= 1
 *         lrs, wds     n comma-separated numbers each: the learning rate and weight decay
 *                      of every parameter
 *         momentum, rescale_grad   numbers (defaults 0 and 1)
 *         clip_gradient            a number; < 0 (the default, -1) turns clipping off
 * inputs  weight_0, grad_0, mom_0, weight_1, grad_1, mom_1, ... (3n float32 arrays; the
 *         three of a parameter of one shape); every mom_k is updated in place
 * outputs n arrays, the updated weights: pass the weights themselves as `out`
 */
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "mxnet/lib_api.h"
#include "op_attrs.h"
#include "multi_sgd/multi_sgd.h"

namespace fcis_ops {
namespace {

const char* const kOp = "MultiSGDMom";
constexpr int64_t kBlock = 8192;  // elements per OpenMP work item

/*! \brief Reads `count` comma-separated numbers (spaces and one pair of brackets allowed,
 *         as MXNet writes tuples). */
bool parse_float_list(const AttrMap& attrs, const char* key, int count,
                      std::vector<float>* values) {
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    FCIS_ERROR << kOp << ": attribute '" << key << "' is required (" << count << " numbers)";
    return false;
  }
  std::string text = it->second;
  for (char& c : text) {
    if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',') c = ' ';
  }
  values->clear();
  std::istringstream tokens(text);
  std::string token;
  float v = 0.f;
  while (tokens >> token) {
    if (!text_to_float(token, &v)) {
      FCIS_ERROR << kOp << ": attribute '" << key << "' must list numbers, got '"
                 << it->second << "'";
      return false;
    }
    values->push_back(v);
  }
  if (static_cast<int>(values->size()) != count) {
    FCIS_ERROR << kOp << ": attribute '" << key << "' lists " << values->size()
               << " numbers for num_weights=" << count;
    return false;
  }
  return true;
}

MXReturnValue parse_attrs(const AttrMap& attrs, int* num_inputs, int* num_outputs) {
  if (!check_known_attrs(kOp, attrs, {"num_weights", "lrs", "wds", "momentum",
                                      "rescale_grad", "clip_gradient"})) {
    return MX_FAIL;
  }
  int n = 0;
  if (!parse_positive_int(kOp, attrs, "num_weights", 0, &n)) return MX_FAIL;
  *num_inputs = 3 * n;
  *num_outputs = n;
  return MX_SUCCESS;
}

MXReturnValue infer_type(const AttrMap& attrs, std::vector<int>* in_types,
                         std::vector<int>* out_types) {
  for (size_t i = 0; i < in_types->size(); ++i) {
    const int t = (*in_types)[i];
    if (t != -1 && t != mxnet::ext::kFloat32) {
      FCIS_ERROR << kOp << ": input " << i << " must be float32 (dtype code 0), got dtype code "
                 << t;
      return MX_FAIL;
    }
    (*in_types)[i] = mxnet::ext::kFloat32;
  }
  for (auto& t : *out_types) t = mxnet::ext::kFloat32;
  return MX_SUCCESS;
}

MXReturnValue infer_shape(const AttrMap& attrs, std::vector<std::vector<unsigned int>>* in,
                          std::vector<std::vector<unsigned int>>* out) {
  for (size_t k = 0; k < out->size(); ++k) {
    const auto& weight = (*in)[3 * k];
    for (int j = 1; j < 3; ++j) {
      if ((*in)[3 * k + j] != weight) {
        FCIS_ERROR << kOp << ": parameter " << k << " has weight " << shape_text(weight)
                   << " but " << (j == 1 ? "grad " : "mom ") << shape_text((*in)[3 * k + j])
                   << "; the three arrays of a parameter must have one shape";
        return MX_FAIL;
      }
    }
    (*out)[k] = weight;
  }
  return MX_SUCCESS;
}

MXReturnValue mutate_inputs(const AttrMap& attrs, std::vector<int>* input_indices) {
  int n = 0;
  if (!parse_positive_int(kOp, attrs, "num_weights", 0, &n)) return MX_FAIL;
  for (int k = 0; k < n; ++k) input_indices->push_back(3 * k + 2);
  return MX_SUCCESS;
}

MXReturnValue forward_cpu(const AttrMap& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  const int n = static_cast<int>(outputs->size());
  std::vector<float> lrs, wds;
  SGDMomScalars s;
  if (!parse_float_list(attrs, "lrs", n, &lrs) || !parse_float_list(attrs, "wds", n, &wds) ||
      !parse_float(kOp, attrs, "momentum", 0.0f, &s.momentum) ||
      !parse_float(kOp, attrs, "rescale_grad", 1.0f, &s.rescale_grad) ||
      !parse_float(kOp, attrs, "clip_gradient", -1.0f, &s.clip_gradient)) {
    return MX_FAIL;
  }
  std::vector<SGDMomArrays> arrays(n);
  std::vector<int> block_param;     // parameter of each block
  std::vector<int64_t> block_start;  // first element of each block
  for (int k = 0; k < n; ++k) {
    SGDMomArrays& a = arrays[k];
    a.weight = (*inputs)[3 * k].data<float>();
    a.grad = (*inputs)[3 * k + 1].data<float>();
    a.mom = (*inputs)[3 * k + 2].data<float>();
    a.out = (*outputs)[k].data<float>();
    a.size = static_cast<int64_t>((*inputs)[3 * k].size());
    a.lr = lrs[k];
    a.wd = wds[k];
    for (int64_t b = 0; b < a.size; b += kBlock) {
      block_param.push_back(k);
      block_start.push_back(b);
    }
  }
  const int64_t blocks = static_cast<int64_t>(block_param.size());
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const SGDMomArrays& a = arrays[block_param[b]];
    sgd_mom_range(a, s, block_start[b], std::min(a.size, block_start[b] + kBlock));
  }
  return MX_SUCCESS;
}

}  // namespace
}  // namespace fcis_ops

REGISTER_OP(MultiSGDMom)
    .setParseAttrs(fcis_ops::parse_attrs)
    .setInferType(fcis_ops::infer_type)
    .setInferShape(fcis_ops::infer_shape)
    .setMutateInputs(fcis_ops::mutate_inputs)
    .setForward(fcis_ops::forward_cpu, "cpu");
