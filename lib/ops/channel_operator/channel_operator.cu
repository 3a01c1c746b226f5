/*!
 * \file channel_operator.cu
 * \brief ChannelOperator CUDA kernels: one thread per (item, group, pixel) or per element,
 *        calling the same per-pixel arithmetic as the CPU path (channel_operator.h).
 */
#include "channel_operator/channel_operator.h"
#include "cuda_launch.h"

namespace fcis_ops {
namespace {

/*! \brief Group_Max / Group_Softmax forward; i runs over (n, g, pixel). */
__global__ void group_forward_kernel(ChannelOpShape s, const float* data, float* out,
                                     int64_t total) {
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    const int64_t ng = i / s.spatial;  // n * group + g
    const int64_t pixel = i % s.spatial;
    const int64_t first = ng * s.k * s.spatial + pixel;
    if (s.op_type == kGroupMax) {
      out[i] = data[first + group_argmax(data + first, s.k, s.spatial) * s.spatial];
    } else {
      group_softmax(data + first, out + first, s.k, s.spatial);
    }
  }
}

/*! \brief Group_Max / Group_Softmax backward; i runs over (n, g, pixel). */
__global__ void group_backward_kernel(ChannelOpShape s, const float* out_grad,
                                      const float* data, const float* out, float* data_grad,
                                      int64_t total) {
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    const int64_t ng = i / s.spatial;
    const int64_t pixel = i % s.spatial;
    const int64_t first = ng * s.k * s.spatial + pixel;
    if (s.op_type == kGroupMax) {
      group_max_grad(data + first, out_grad[i], data_grad + first, s.k, s.spatial);
    } else {
      group_softmax_grad(out + first, out_grad + first, data_grad + first, s.k, s.spatial);
    }
  }
}

/*! \brief Group_Pick forward; i runs over the output (N, k * spatial). */
__global__ void pick_forward_kernel(ChannelOpShape s, const float* data, const float* pick_idx,
                                    float* out, int64_t total) {
  const int64_t block = s.k * s.spatial;
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    const int n = static_cast<int>(i / block);
    const int g = pick_group(s, pick_idx, n);
    out[i] = data[(static_cast<int64_t>(n) * s.group + g) * block + i % block];
  }
}

/*! \brief Group_Pick backward; i runs over data (N, group, k * spatial). */
__global__ void pick_backward_kernel(ChannelOpShape s, const float* out_grad,
                                     const float* pick_idx, float* data_grad, int64_t total) {
  const int64_t block = s.k * s.spatial;
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    const int64_t ng = i / block;
    const int n = static_cast<int>(ng / s.group);
    const int g = static_cast<int>(ng % s.group);
    data_grad[i] = (g == pick_group(s, pick_idx, n)) ? out_grad[n * block + i % block] : 0.f;
  }
}

}  // namespace

const char* channel_operator_forward_gpu(const ChannelOpShape& s, const float* data,
                                         const float* pick_idx, float* out, void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (s.op_type == kGroupPick) {
    const int64_t total = static_cast<int64_t>(s.num) * s.k * s.spatial;
    if (total > 0) {
      pick_forward_kernel<<<cuda_blocks(total), kCudaThreads, 0, st>>>(s, data, pick_idx, out,
                                                                       total);
    }
  } else {
    const int64_t total = static_cast<int64_t>(s.num) * s.group * s.spatial;
    if (total > 0) {
      group_forward_kernel<<<cuda_blocks(total), kCudaThreads, 0, st>>>(s, data, out, total);
    }
  }
  return cuda_status();
}

const char* channel_operator_backward_gpu(const ChannelOpShape& s, const float* out_grad,
                                          const float* data, const float* pick_idx,
                                          const float* out, float* data_grad,
                                          float* pick_grad, void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (s.op_type == kGroupPick) {
    const int64_t total = static_cast<int64_t>(s.num) * s.group * s.k * s.spatial;
    const int64_t per_item = s.pick_type == kScorePick ? s.group : 1;
    cudaMemsetAsync(pick_grad, 0, sizeof(float) * s.num * per_item, st);
    if (total > 0) {
      pick_backward_kernel<<<cuda_blocks(total), kCudaThreads, 0, st>>>(s, out_grad, pick_idx,
                                                                        data_grad, total);
    }
  } else {
    const int64_t total = static_cast<int64_t>(s.num) * s.group * s.spatial;
    if (total > 0) {
      group_backward_kernel<<<cuda_blocks(total), kCudaThreads, 0, st>>>(
          s, out_grad, data, out, data_grad, total);
    }
  }
  return cuda_status();
}

}  // namespace fcis_ops
