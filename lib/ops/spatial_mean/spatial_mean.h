/*!
 * \file spatial_mean.h
 * \brief SpatialMean: the mean of each (item, channel) over the axes after the channel axis,
 *        with the arithmetic of MXNet's `mean` operator bit for bit, shared by the CPU loops
 *        and the CUDA kernels; and the CUDA launchers' declarations.
 *
 *   forward   data (N, C, *spatial) -> out (N, C)
 *             out[n, c] = Kahan-compensated float sum of the `count` values of row (n, c)
 *                         in row-major order, divided by float(count)
 *   backward  data_grad[n, c, ...] = out_grad[n, c] / float(count) at every position
 *
 * FCIS averages its position-sensitive score maps over the S x S pooled bins (class scores
 * and box deltas); MXNet's generic reduce does that single-threaded with per-element index
 * arithmetic, this op with one independent row per (n, c).
 */
#ifndef FCIS_OPS_SPATIAL_MEAN_H_
#define FCIS_OPS_SPATIAL_MEAN_H_

#include "host_device.h"

namespace fcis_ops {

/*! \brief Sizes of one SpatialMean call: `rows` = N * C rows of `count` values each. */
struct SpatialMeanShape {
  int64_t rows;
  int64_t count;
};

/*! \brief One step of the compensated sum: adds x to *sum, carrying the rounding error of
 *         the previous steps in *residual (MXNet's reducer's order of operations). */
FCIS_HOST_DEVICE inline void kahan_add(float x, float* sum, float* residual) {
  const float y = x - *residual;
  const float t = *sum + y;
  *residual = (t - *sum) - y;
  *sum = t;
}

/*! \brief The mean of a row from its compensated sum: one division by float(count). */
FCIS_HOST_DEVICE inline float mean_of_sum(float sum, int64_t count) {
  return sum / static_cast<float>(count);
}

/*! \brief Mean of x[0 .. count) (count >= 1): compensated sum, then one division. */
FCIS_HOST_DEVICE inline float kahan_mean(const float* x, int64_t count) {
  float sum = 0.f;
  float residual = 0.f;
  for (int64_t i = 0; i < count; ++i) kahan_add(x[i], &sum, &residual);
  return mean_of_sum(sum, count);
}

/*!
 * \brief kahan_mean of kRows consecutive rows at once (x: kRows * count values, out: kRows).
 *        The same operations per row in the same order (so the same bits), interleaved so
 *        that the CPU overlaps the rows' dependent additions instead of waiting on each.
 */
template <int kRows>
inline void kahan_mean_block(const float* x, int64_t count, float* out) {
  float sum[kRows];
  float residual[kRows];
  for (int j = 0; j < kRows; ++j) sum[j] = residual[j] = 0.f;
  for (int64_t i = 0; i < count; ++i) {
    for (int j = 0; j < kRows; ++j) kahan_add(x[j * count + i], &sum[j], &residual[j]);
  }
  for (int j = 0; j < kRows; ++j) out[j] = mean_of_sum(sum[j], count);
}

/*! \brief The gradient of every value of a row whose mean has gradient dy: dy / count
 *         (the same for every value, so computed once per row). */
FCIS_HOST_DEVICE inline float mean_grad(float dy, int64_t count) {
  return dy / static_cast<float>(count);
}

// CUDA launchers (spatial_mean.cu); nullptr on success, else a CUDA error text.
const char* spatial_mean_forward_gpu(const SpatialMeanShape& s, const float* data, float* out,
                                     void* stream);
const char* spatial_mean_backward_gpu(const SpatialMeanShape& s, const float* out_grad,
                                      float* data_grad, void* stream);

}  // namespace fcis_ops

#endif  // FCIS_OPS_SPATIAL_MEAN_H_
