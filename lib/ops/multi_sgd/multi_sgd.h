/*!
 * \file multi_sgd.h
 * \brief MultiSGDMom: one SGD-with-momentum step over many parameters in one call, with
 *        the arithmetic of MXNet's `sgd_mom_update` / `multi_sgd_mom_update` bit for bit.
 *
 * Per element of parameter k (all float32, left to right as written):
 *
 *   g   = rescale_grad * grad              (clipped to [-clip, clip] if clip >= 0)
 *   mom = momentum * mom - lr_k * wd_k * w - lr_k * g
 *                                          (unclipped: lr_k * rescale_grad * grad last)
 *   w   = w + mom
 *
 * A small model's update is ~100 arrays of 16 to 70k values: MXNet's multi-tensor kernel
 * visits max(size) x count elements per call and takes at most 60 arrays, so the update
 * costs many calls of mostly overhead. This op takes every array in one call and splits
 * the elements into blocks across the OpenMP threads. CPU only: on a GPU the optimizer
 * keeps MXNet's kernels.
 */
#ifndef FCIS_OPS_MULTI_SGD_H_
#define FCIS_OPS_MULTI_SGD_H_

#include <algorithm>
#include <cstdint>

namespace fcis_ops {

/*! \brief The scalars of one call; lr and wd are per parameter. */
struct SGDMomScalars {
  float momentum;
  float rescale_grad;
  float clip_gradient;  // < 0: no clipping
};

/*! \brief MXNet's clip: bound if x > bound, -bound if x < -bound, else x. */
inline float clip_to(float x, float bound) {
  if (x > bound) return bound;
  if (x < -bound) return -bound;
  return x;
}

/*! \brief One parameter's arrays (`size` float32 values each) and rates. `out` may be
 *         `weight` (updated in place). */
struct SGDMomArrays {
  const float* weight;
  const float* grad;
  float* mom;
  float* out;
  int64_t size;
  float lr;
  float wd;
};

/*! \brief Elements [0, count) of one parameter, in place; the restrict qualifiers (the
 *         three arrays never overlap) let the compiler vectorize. */
template <bool kClip>
inline void sgd_mom_block(float* __restrict weight, const float* __restrict grad,
                          float* __restrict mom, int64_t count, float lr, float wd,
                          const SGDMomScalars& s) {
  for (int64_t i = 0; i < count; ++i) {
    const float w = weight[i];
    const float g = kClip ? clip_to(s.rescale_grad * grad[i], s.clip_gradient) : grad[i];
    const float m = kClip ? s.momentum * mom[i] - lr * wd * w - lr * g
                          : s.momentum * mom[i] - lr * wd * w - lr * s.rescale_grad * g;
    mom[i] = m;
    weight[i] = w + m;
  }
}

/*! \brief Updates elements [begin, end) of one parameter: into `out` (a copy of the
 *         weights first when `out` is another array), in place. */
inline void sgd_mom_range(const SGDMomArrays& a, const SGDMomScalars& s, int64_t begin,
                          int64_t end) {
  if (a.out != a.weight) std::copy(a.weight + begin, a.weight + end, a.out + begin);
  float* w = a.out + begin;
  if (s.clip_gradient >= 0.0f) {
    sgd_mom_block<true>(w, a.grad + begin, a.mom + begin, end - begin, a.lr, a.wd, s);
  } else {
    sgd_mom_block<false>(w, a.grad + begin, a.mom + begin, end - begin, a.lr, a.wd, s);
  }
}

}  // namespace fcis_ops

#endif  // FCIS_OPS_MULTI_SGD_H_
