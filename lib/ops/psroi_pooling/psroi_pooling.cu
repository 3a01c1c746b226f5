/*!
 * \file psroi_pooling.cu
 * \brief PSROIPooling CUDA kernels: one thread per output element, calling the same inline
 *        arithmetic as the CPU path (psroi_pooling.h). The backward kernel scatters with
 *        atomicAdd, so on the GPU the data gradient's summation order is not fixed.
 */
#include "cuda_launch.h"
#include "psroi_pooling/psroi_pooling.h"

namespace fcis_ops {
namespace {

/*! \brief Accumulator for psroi_bin_scatter: atomicAdd on the device. */
struct AtomicAdd {
  FCIS_HOST_DEVICE void operator()(float* dst, float value) const {
#if defined(__CUDA_ARCH__)
    atomicAdd(dst, value);
#else
    *dst += value;
#endif
  }
};

/*! \brief Bin ranges and input map of output element (n, c, ph, pw); false if ROI ignored. */
__device__ bool locate_bin(const PSROIPoolingShape& s, const float* rois, int64_t index,
                           int64_t* map_offset, BinRange* h, BinRange* w) {
  const int P = s.pooled_size;
  const int pw = static_cast<int>(index % P);
  const int ph = static_cast<int>((index / P) % P);
  const int c = static_cast<int>((index / P / P) % s.output_dim);
  const int64_t n = index / P / P / s.output_dim;
  RoiWindow win = psroi_window(rois + 5 * n, s.spatial_scale, P);
  if (win.batch < 0 || win.batch >= s.batch) return false;
  *h = psroi_bin_range(ph, win.bin_h, win.start_h, s.height);
  *w = psroi_bin_range(pw, win.bin_w, win.start_w, s.width);
  const int channel = psroi_input_channel(c, psroi_group_cell(ph, P, s.group_size),
                                          psroi_group_cell(pw, P, s.group_size), s.group_size);
  *map_offset = (static_cast<int64_t>(win.batch) * s.channels + channel) *
                static_cast<int64_t>(s.height) * s.width;
  return true;
}

__global__ void forward_kernel(PSROIPoolingShape s, const float* data, const float* rois,
                               float* out, int64_t total) {
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    int64_t offset;
    BinRange h, w;
    out[i] = locate_bin(s, rois, i, &offset, &h, &w)
                 ? psroi_bin_average(data + offset, s.width, h, w)
                 : 0.f;
  }
}

__global__ void backward_kernel(PSROIPoolingShape s, const float* out_grad, const float* rois,
                                float* data_grad, int64_t total) {
  for (int64_t i = cuda_first_index(); i < total; i += cuda_index_step()) {
    int64_t offset;
    BinRange h, w;
    if (locate_bin(s, rois, i, &offset, &h, &w)) {
      psroi_bin_scatter(data_grad + offset, s.width, h, w, out_grad[i], AtomicAdd());
    }
  }
}

int64_t output_size(const PSROIPoolingShape& s) {
  return static_cast<int64_t>(s.num_rois) * s.output_dim * s.pooled_size * s.pooled_size;
}

}  // namespace

const char* psroi_pooling_forward_gpu(const PSROIPoolingShape& s, const float* data,
                                      const float* rois, float* out, void* stream) {
  const int64_t total = output_size(s);
  if (total == 0) return nullptr;
  forward_kernel<<<cuda_blocks(total), kCudaThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      s, data, rois, out, total);
  return cuda_status();
}

const char* psroi_pooling_backward_gpu(const PSROIPoolingShape& s, const float* out_grad,
                                       const float* rois, float* data_grad, float* rois_grad,
                                       void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const size_t data_bytes = sizeof(float) * s.batch * s.channels * s.height * s.width;
  cudaMemsetAsync(data_grad, 0, data_bytes, st);
  cudaMemsetAsync(rois_grad, 0, sizeof(float) * 5 * s.num_rois, st);
  const int64_t total = output_size(s);
  if (total > 0) {
    backward_kernel<<<cuda_blocks(total), kCudaThreads, 0, st>>>(s, out_grad, rois, data_grad,
                                                                 total);
  }
  return cuda_status();
}

}  // namespace fcis_ops
