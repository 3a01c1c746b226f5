/*!
 * \file cuda_launch.h
 * \brief Small CUDA helpers shared by the .cu files (included by nvcc only).
 */
#ifndef FCIS_OPS_CUDA_LAUNCH_H_
#define FCIS_OPS_CUDA_LAUNCH_H_

#include <cuda_runtime.h>
#include <stdint.h>

namespace fcis_ops {

const int kCudaThreads = 256;

/*! \brief Blocks for a grid-stride loop over n items (capped; the loop covers the rest). */
inline unsigned int cuda_blocks(int64_t n) {
  int64_t blocks = (n + kCudaThreads - 1) / kCudaThreads;
  return static_cast<unsigned int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

/*! \brief nullptr when the last launch succeeded, else CUDA's error text. */
inline const char* cuda_status() {
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

/*! \brief Grid-stride loop index helpers. */
__device__ inline int64_t cuda_first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t cuda_index_step() {
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
}

}  // namespace fcis_ops

#endif  // FCIS_OPS_CUDA_LAUNCH_H_
