// Mask voting on the GPU: one thread per region pixel, each computing fcis_vote_pixel of
// mask_voting_kernel.h (members in the CPU's order; horizontal pass on source rows s0y and
// s1y, then the vertical pass: the same expressions as the CPU's two passes).
// Compile with `nvcc -O3 --fmad=false`; the header also keeps its products unfused.
#include "mask_voting_kernel.h"

#include <cuda_runtime.h>

#include <cstdio>

namespace {

constexpr int kThreads = 256;

// masks: (num_masks, src_h, src_w); extents: (num_masks, 4); members, weights: (num_members,);
// out: (rh, rw) with rh = ry2 - ry1 + 1, rw = rx2 - rx1 + 1.
__global__ void vote_region_kernel(unsigned char *out, const float *masks, int src_h, int src_w,
                                   const int *extents, const long long *members,
                                   const float *weights, int num_members, int rx1, int ry1,
                                   int rw, int rh, float binary_thresh, int binarize_inputs) {
  const int pixel = blockIdx.x * blockDim.x + threadIdx.x;
  if (pixel >= rw * rh) return;
  const int x = rx1 + pixel % rw;  // image column of this thread's pixel
  const int y = ry1 + pixel / rw;  // image row
  out[pixel] = fcis_vote_pixel(masks, src_h, src_w, extents, members, weights, num_members, x,
                               y, binary_thresh, binarize_inputs);
}

bool check(cudaError_t status, const char *what, char *err, int err_len) {
  if (status == cudaSuccess) return true;
  std::snprintf(err, err_len, "gpu_mask_voting: %s failed: %s", what, cudaGetErrorString(status));
  return false;
}

// Argument checks done before touching the device; false with a message on bad input.
bool valid_arguments(int num_masks, int src_h, int src_w, const long long *members,
                     int num_members, int rx1, int ry1, int rx2, int ry2, char *err,
                     int err_len) {
  if (rx2 < rx1 || ry2 < ry1) {
    std::snprintf(err, err_len, "gpu_mask_voting: empty region (%d, %d, %d, %d); pass x2 >= x1 "
                  "and y2 >= y1", rx1, ry1, rx2, ry2);
    return false;
  }
  if (num_members < 0 || num_masks < 0 || (num_members > 0 && (src_h < 1 || src_w < 1))) {
    std::snprintf(err, err_len, "gpu_mask_voting: bad sizes: %d members, %d masks of %dx%d",
                  num_members, num_masks, src_h, src_w);
    return false;
  }
  for (int m = 0; m < num_members; ++m) {
    if (members[m] < 0 || members[m] >= num_masks) {
      std::snprintf(err, err_len, "gpu_mask_voting: member %d is ROI %lld but there are %d "
                    "masks; members must index masks", m, members[m], num_masks);
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int fcis_gpu_vote_region(unsigned char *out, const float *masks, int num_masks,
                                    int src_h, int src_w, const int *extents,
                                    const long long *members, const float *weights,
                                    int num_members, int rx1, int ry1, int rx2, int ry2,
                                    float binary_thresh, int binarize_inputs, int device_id,
                                    char *err, int err_len) {
  if (!valid_arguments(num_masks, src_h, src_w, members, num_members, rx1, ry1, rx2, ry2, err,
                       err_len))
    return 1;
  const int rw = rx2 - rx1 + 1;
  const int rh = ry2 - ry1 + 1;
  const size_t out_bytes = static_cast<size_t>(rw) * rh;
  if (num_members == 0) {  // no weight at all: the CPU answer is all zeros
    for (size_t p = 0; p < out_bytes; ++p) out[p] = 0;
    return 0;
  }
  if (!check(cudaSetDevice(device_id), "cudaSetDevice", err, err_len)) return 1;

  const size_t mask_bytes = static_cast<size_t>(num_masks) * src_h * src_w * sizeof(float);
  const size_t extent_bytes = static_cast<size_t>(num_masks) * 4 * sizeof(int);
  const size_t member_bytes = static_cast<size_t>(num_members) * sizeof(long long);
  const size_t weight_bytes = static_cast<size_t>(num_members) * sizeof(float);
  float *masks_dev = nullptr, *weights_dev = nullptr;
  int *extents_dev = nullptr;
  long long *members_dev = nullptr;
  unsigned char *out_dev = nullptr;
  bool ok =
      check(cudaMalloc(&masks_dev, mask_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&extents_dev, extent_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&members_dev, member_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&weights_dev, weight_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&out_dev, out_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMemcpy(masks_dev, masks, mask_bytes, cudaMemcpyHostToDevice), "cudaMemcpy",
            err, err_len) &&
      check(cudaMemcpy(extents_dev, extents, extent_bytes, cudaMemcpyHostToDevice),
            "cudaMemcpy", err, err_len) &&
      check(cudaMemcpy(members_dev, members, member_bytes, cudaMemcpyHostToDevice),
            "cudaMemcpy", err, err_len) &&
      check(cudaMemcpy(weights_dev, weights, weight_bytes, cudaMemcpyHostToDevice),
            "cudaMemcpy", err, err_len);
  if (ok) {
    const int blocks = static_cast<int>((out_bytes + kThreads - 1) / kThreads);
    vote_region_kernel<<<blocks, kThreads>>>(out_dev, masks_dev, src_h, src_w, extents_dev,
                                             members_dev, weights_dev, num_members, rx1, ry1,
                                             rw, rh, binary_thresh, binarize_inputs);
    ok = check(cudaGetLastError(), "vote_region_kernel launch", err, err_len) &&
         check(cudaMemcpy(out, out_dev, out_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy",
               err, err_len);
  }
  cudaFree(masks_dev);
  cudaFree(extents_dev);
  cudaFree(members_dev);
  cudaFree(weights_dev);
  cudaFree(out_dev);
  return ok ? 0 : 1;
}
