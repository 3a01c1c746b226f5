/*!
 * \file channel_operator.h
 * \brief ChannelOperator (FCIS mask assembly): sizes, the per-pixel arithmetic shared by the
 *        CPU loops and the CUDA kernels, and the CUDA launchers' declarations.
 *
 * data (N, group*k, *spatial): channel g*k + j is member j of group g (in FCIS: group = class,
 * k = 2, j = 1 "inside"). The per-pixel functions take a pointer to member 0 of one group at
 * one pixel; member j is `stride` floats further (stride = product of the spatial sizes).
 *   Group_Max      (N, group*k, ...) -> (N, group, ...)   max over each group's k members
 *   Group_Softmax  (N, group*k, ...) -> (N, group*k, ...) softmax over each group's members
 *   Group_Pick     (N, group*k, ...), pick_idx -> (N, k, ...) the members of one group per n
 */
#ifndef FCIS_OPS_CHANNEL_OPERATOR_H_
#define FCIS_OPS_CHANNEL_OPERATOR_H_

#include "host_device.h"

namespace fcis_ops {

enum ChannelOpType { kGroupMax = 0, kGroupSoftmax = 1, kGroupPick = 2 };
enum PickType { kLabelPick = 0, kScorePick = 1 };

/*! \brief Attributes and sizes of one ChannelOperator call. */
struct ChannelOpShape {
  int op_type;      // ChannelOpType
  int pick_type;    // PickType (Group_Pick only)
  int group;        // number of groups
  int num;          // N
  int k;            // members per group = channels / group
  int64_t spatial;  // product of the sizes after the channel axis (1 if none)
};

/*! \brief Index of the first largest of the k members. */
FCIS_HOST_DEVICE inline int group_argmax(const float* x, int k, int64_t stride) {
  int best = 0;
  float best_value = x[0];
  for (int j = 1; j < k; ++j) {
    float v = x[j * stride];
    if (v > best_value) {
      best_value = v;
      best = j;
    }
  }
  return best;
}

/*! \brief Group_Max backward at one pixel: dy goes to the first argmax member, 0 elsewhere. */
FCIS_HOST_DEVICE inline void group_max_grad(const float* x, float dy, float* dx, int k,
                                            int64_t stride) {
  int best = group_argmax(x, k, stride);
  for (int j = 0; j < k; ++j) dx[j * stride] = (j == best) ? dy : 0.f;
}

/*! \brief y = softmax over the k members of x (max subtracted first); y may alias x. */
FCIS_HOST_DEVICE inline void group_softmax(const float* x, float* y, int k, int64_t stride) {
  if (k == 2) {
    // FCIS's case, one exp instead of two; bit for bit what the loop below computes, since
    // there the larger member's exp is expf(0) = 1 and the sum is 1 + e.
    const float a = x[0], b = x[stride];
    const float e = expf(-fabsf(a - b));
    const float sum = 1.f + e;
    const float big = 1.f / sum, small = e / sum;
    y[0] = (a >= b) ? big : small;
    y[stride] = (a >= b) ? small : big;
    return;
  }
  float top = x[0];
  for (int j = 1; j < k; ++j) top = fmaxf(top, x[j * stride]);
  float sum = 0.f;
  for (int j = 0; j < k; ++j) {
    float e = expf(x[j * stride] - top);
    y[j * stride] = e;
    sum += e;
  }
  for (int j = 0; j < k; ++j) y[j * stride] /= sum;
}

/*! \brief Softmax backward at one pixel: dx_j = y_j * (dy_j - sum_i dy_i * y_i). */
FCIS_HOST_DEVICE inline void group_softmax_grad(const float* y, const float* dy, float* dx,
                                                int k, int64_t stride) {
  float dot = 0.f;
  for (int j = 0; j < k; ++j) dot += dy[j * stride] * y[j * stride];
  for (int j = 0; j < k; ++j) dx[j * stride] = y[j * stride] * (dy[j * stride] - dot);
}

/*! \brief Label_Pick: the group named by a float class label; labels outside [0, group)
 *         (and NaN) pick group 0.
 */
FCIS_HOST_DEVICE inline int label_pick_group(float label, int group) {
  return (label >= 0.f && label < static_cast<float>(group)) ? static_cast<int>(label) : 0;
}

/*! \brief Score_Pick: the best-scoring group among 1..group-1 (group 0, the background, is
 *         never picked unless it is the only one); ties go to the lowest index.
 */
FCIS_HOST_DEVICE inline int score_pick_group(const float* scores, int group) {
  if (group < 2) return 0;
  int best = 1;
  for (int g = 2; g < group; ++g) {
    if (scores[g] > scores[best]) best = g;
  }
  return best;
}

/*! \brief Group picked for item n; pick_idx is (N,) labels or (N, group) scores. */
FCIS_HOST_DEVICE inline int pick_group(const ChannelOpShape& s, const float* pick_idx, int n) {
  return s.pick_type == kScorePick
             ? score_pick_group(pick_idx + static_cast<int64_t>(n) * s.group, s.group)
             : label_pick_group(pick_idx[n], s.group);
}

// CUDA launchers (channel_operator.cu); nullptr on success, else a CUDA error text.
// pick_idx / pick_grad are only used (and may be null otherwise) for Group_Pick.
const char* channel_operator_forward_gpu(const ChannelOpShape& s, const float* data,
                                         const float* pick_idx, float* out, void* stream);
const char* channel_operator_backward_gpu(const ChannelOpShape& s, const float* out_grad,
                                          const float* data, const float* pick_idx,
                                          const float* out, float* data_grad,
                                          float* pick_grad, void* stream);

}  // namespace fcis_ops

#endif  // FCIS_OPS_CHANNEL_OPERATOR_H_
