/*!
 * \file op_attrs.h
 * \brief Host-side helpers shared by the operators' MXNet glue: reading string attributes
 *        and checking tensors. Every failure writes one FCIS_ERROR line that names the
 *        operator and the attribute or input, and returns false.
 */
#ifndef FCIS_OPS_OP_ATTRS_H_
#define FCIS_OPS_OP_ATTRS_H_

#include <cerrno>
#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "mxnet/lib_api.h"

namespace fcis_ops {

using AttrMap = std::unordered_map<std::string, std::string>;
// lib_api names every operator's glue uses
using mxnet::ext::MX_FAIL;
using mxnet::ext::MX_SUCCESS;
using mxnet::ext::MXReturnValue;
using mxnet::ext::MXTensor;
using mxnet::ext::OpResource;

/*!
 * \brief Starts a new error message (use through FCIS_ERROR).
 *
 * MXNet 1.9's lib_api keeps every message ever added and prints all of them with each new
 * error, so an error would repeat all earlier ones. We drop the old messages first: MXNet
 * has already copied them when it reported the earlier failure. MXerrorMsgs is a
 * standard-layout class whose only data member is its vector of messages, so the object's
 * address is the vector's address. (Like lib_api's own MX_ERROR_MSG, this is not guarded
 * against two operators failing at the same moment on different engine threads.)
 */
inline std::stringstream& error_line(const char* file, int line) {
  using Messages = std::vector<std::stringstream*>;
  static_assert(std::is_standard_layout<mxnet::ext::MXerrorMsgs>::value &&
                    sizeof(mxnet::ext::MXerrorMsgs) == sizeof(Messages),
                "lib_api.h MXerrorMsgs layout changed: review error_line()");
  mxnet::ext::MXerrorMsgs* registry = mxnet::ext::MXerrorMsgs::get();
  Messages* messages = reinterpret_cast<Messages*>(registry);
  for (std::stringstream* m : *messages) delete m;
  messages->clear();
  return registry->add(file, line);
}

#define FCIS_ERROR ::fcis_ops::error_line(__FILE__, __LINE__)

/*! \brief Fails on an attribute that is not in `known`. MXNet's own keys (__x__) pass. */
inline bool check_known_attrs(const char* op, const AttrMap& attrs,
                              std::initializer_list<const char*> known) {
  for (const auto& kv : attrs) {
    const std::string& key = kv.first;
    if (key.size() >= 4 && key.compare(0, 2, "__") == 0) continue;
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) {
      std::string names;
      for (const char* k : known) names += std::string(names.empty() ? "" : ", ") + k;
      FCIS_ERROR << op << ": unknown attribute '" << key << "' (known: " << names << ")";
      return false;
    }
  }
  return true;
}

/*! \brief Reads a positive integer attribute; `fallback` > 0 is used when it is absent. */
inline bool parse_positive_int(const char* op, const AttrMap& attrs, const char* key,
                               int fallback, int* value) {
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    if (fallback > 0) {
      *value = fallback;
      return true;
    }
    FCIS_ERROR << op << ": attribute '" << key << "' is required (a positive integer)";
    return false;
  }
  const char* text = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v <= 0 || v > (1L << 30)) {
    FCIS_ERROR << op << ": attribute '" << key << "' must be a positive integer, got '"
               << it->second << "'";
    return false;
  }
  *value = static_cast<int>(v);
  return true;
}

/*! \brief The float32 that strtof reads from the whole of `text` (as MXNet reads its own
 *         float parameters); false if text is not one number or is out of range. */
inline bool text_to_float(const std::string& text, float* value) {
  const char* start = text.c_str();
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(start, &end);
  if (end == start || *end != '\0' || errno != 0) return false;
  *value = v;
  return true;
}

/*! \brief Reads a required positive, finite float attribute. */
inline bool parse_positive_float(const char* op, const AttrMap& attrs, const char* key,
                                 float* value) {
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    FCIS_ERROR << op << ": attribute '" << key << "' is required (a positive number)";
    return false;
  }
  float v = 0.f;
  if (!text_to_float(it->second, &v) || !(v > 0.f) || v > 3.0e38f) {
    FCIS_ERROR << op << ": attribute '" << key << "' must be a positive number, got '"
               << it->second << "'";
    return false;
  }
  *value = v;
  return true;
}

/*! \brief Reads a float attribute (any number text_to_float reads); `fallback` when it is
 *         absent. */
inline bool parse_float(const char* op, const AttrMap& attrs, const char* key, float fallback,
                        float* value) {
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    *value = fallback;
    return true;
  }
  if (!text_to_float(it->second, value)) {
    FCIS_ERROR << op << ": attribute '" << key << "' must be a number, got '" << it->second
               << "'";
    return false;
  }
  return true;
}

/*! \brief Reads a string attribute that must be one of `choices` (index into *value);
 *         `fallback` >= 0 is used when it is absent.
 */
inline bool parse_choice(const char* op, const AttrMap& attrs, const char* key,
                         std::initializer_list<const char*> choices, int fallback,
                         int* value) {
  std::string names;
  for (const char* c : choices) names += std::string(names.empty() ? "" : ", ") + c;
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    if (fallback >= 0) {
      *value = fallback;
      return true;
    }
    FCIS_ERROR << op << ": attribute '" << key << "' is required (one of " << names << ")";
    return false;
  }
  int i = 0;
  for (const char* c : choices) {
    if (it->second == c) {
      *value = i;
      return true;
    }
    ++i;
  }
  FCIS_ERROR << op << ": attribute '" << key << "' must be one of " << names << ", got '"
             << it->second << "'";
  return false;
}

/*! \brief Every input shape must be known (MXNet passes an unknown shape as empty). */
template <typename T>
inline bool shapes_known(const char* op, const std::vector<std::vector<T>>& shapes,
                         std::initializer_list<const char*> names) {
  size_t i = 0;
  for (const char* name : names) {
    if (i < shapes.size() && shapes[i].empty()) {
      FCIS_ERROR << op << ": the shape of input '" << name
                 << "' is unknown; give it when inferring shapes (e.g. in simple_bind)";
      return false;
    }
    ++i;
  }
  return true;
}

/*! \brief Shape as text, e.g. "(2,5)", for error messages. */
template <typename T>
inline std::string shape_text(const std::vector<T>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

/*! \brief Every input must be float32 (or still unknown, -1); all outputs become float32. */
inline bool infer_float32(const char* op, std::initializer_list<const char*> input_names,
                          std::vector<int>* in_types, std::vector<int>* out_types) {
  size_t i = 0;
  for (const char* name : input_names) {
    if (i >= in_types->size()) break;
    int t = (*in_types)[i];
    if (t != -1 && t != mxnet::ext::kFloat32) {
      FCIS_ERROR << op << ": input '" << name << "' must be float32 (dtype code 0), got "
                 << "dtype code " << t;
      return false;
    }
    (*in_types)[i++] = mxnet::ext::kFloat32;
  }
  for (auto& t : *out_types) t = mxnet::ext::kFloat32;
  return true;
}

/*! \brief MX_SUCCESS when a CUDA launcher returned no error text, else one FCIS_ERROR line
 *         "<op>: CUDA <what> failed: <text>" and MX_FAIL. */
inline mxnet::ext::MXReturnValue cuda_result(const char* op, const char* what,
                                             const char* err) {
  if (err == nullptr) return mxnet::ext::MX_SUCCESS;
  FCIS_ERROR << op << ": CUDA " << what << " failed: " << err;
  return mxnet::ext::MX_FAIL;
}

}  // namespace fcis_ops

/*!
 * \brief Registers operator `Name` with MXNet: the glue functions every operator defines in
 *        its fcis_ops namespace (parse_attrs, infer_type, infer_shape, forward_cpu,
 *        backward_cpu and, in a CUDA build, forward_gpu and backward_gpu). Use at file
 *        scope: FCIS_REGISTER_OP(PSROIPooling);
 */
#ifdef MXNET_FCIS_WITH_CUDA
#define FCIS_GPU_FUNCTIONS_                           \
  .setForward(fcis_ops::forward_gpu, "gpu")           \
      .setBackward(fcis_ops::backward_gpu, "gpu")
#else
#define FCIS_GPU_FUNCTIONS_
#endif

#define FCIS_REGISTER_OP(Name)                        \
  REGISTER_OP(Name)                                   \
      .setParseAttrs(fcis_ops::parse_attrs)           \
      .setInferType(fcis_ops::infer_type)             \
      .setInferShape(fcis_ops::infer_shape)           \
      .setForward(fcis_ops::forward_cpu, "cpu")       \
      .setBackward(fcis_ops::backward_cpu, "cpu")     \
      FCIS_GPU_FUNCTIONS_

#endif  // FCIS_OPS_OP_ATTRS_H_
