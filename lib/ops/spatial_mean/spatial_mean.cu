/*!
 * \file spatial_mean.cu
 * \brief SpatialMean CUDA kernels: one thread per row (n, c) for the forward, one per
 *        element of data for the backward, with the arithmetic of spatial_mean.h.
 */
#include "cuda_launch.h"
#include "spatial_mean/spatial_mean.h"

namespace fcis_ops {
namespace {

/*! \brief out[r] = mean of row r; r runs over the N * C rows. */
__global__ void spatial_mean_forward_kernel(SpatialMeanShape s, const float* data,
                                            float* out) {
  for (int64_t r = cuda_first_index(); r < s.rows; r += cuda_index_step()) {
    out[r] = kahan_mean(data + r * s.count, s.count);
  }
}

/*! \brief data_grad[i] = out_grad[row of i] / count; i runs over data. */
__global__ void spatial_mean_backward_kernel(SpatialMeanShape s, const float* out_grad,
                                             float* data_grad, int64_t total) {
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    data_grad[i] = mean_grad(out_grad[i / s.count], s.count);
  }
}

}  // namespace

const char* spatial_mean_forward_gpu(const SpatialMeanShape& s, const float* data, float* out,
                                     void* stream) {
  if (s.rows > 0) {
    spatial_mean_forward_kernel<<<cuda_blocks(s.rows), kCudaThreads, 0,
                                  static_cast<cudaStream_t>(stream)>>>(s, data, out);
  }
  return cuda_status();
}

const char* spatial_mean_backward_gpu(const SpatialMeanShape& s, const float* out_grad,
                                      float* data_grad, void* stream) {
  const int64_t total = s.rows * s.count;
  if (total > 0) {
    spatial_mean_backward_kernel<<<cuda_blocks(total), kCudaThreads, 0,
                                   static_cast<cudaStream_t>(stream)>>>(s, out_grad, data_grad,
                                                                        total);
  }
  return cuda_status();
}

}  // namespace fcis_ops
