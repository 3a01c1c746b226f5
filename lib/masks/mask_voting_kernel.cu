// Mask voting on the GPU: one thread per region pixel, each computing fcis_vote_pixel
// (fcis_gpu_vote_region) or fcis_soft_vote_pixel (fcis_gpu_vote_soft) of mask_voting_kernel.h
// (members in the CPU's order; horizontal pass on source rows s0y and s1y, then the vertical
// pass: the same expressions as the CPU's two passes).
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

// Soft vote of the region pixels: out (rh, rw) float64 weighted sums.
__global__ void vote_soft_kernel(double *out, const float *masks, int src_h, int src_w,
                                 const int *extents, const long long *members,
                                 const float *weights, int num_members, int rx1, int ry1,
                                 int rw, int rh, float binary_thresh, int binarize_inputs) {
  const int pixel = blockIdx.x * blockDim.x + threadIdx.x;
  if (pixel >= rw * rh) return;
  out[pixel] = fcis_soft_vote_pixel(masks, src_h, src_w, extents, members, weights,
                                    num_members, rx1 + pixel % rw, ry1 + pixel / rw,
                                    binary_thresh, binarize_inputs);
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

// The inputs of one vote, as host pointers and sizes.
struct VoteInputs {
  const float *masks;
  int num_masks, src_h, src_w;
  const int *extents;
  const long long *members;
  const float *weights;
  int num_members, rx1, ry1, rx2, ry2;
  float binary_thresh;
  int binarize_inputs;
};

// Device copies of VoteInputs' arrays and an output of out_elem_bytes per region pixel;
// runs launch(device inputs, device output) and copies the output back into out.
template <typename Launch>
int run_on_device(const VoteInputs &in, void *out, size_t out_elem_bytes, int device_id,
                  char *err, int err_len, Launch launch) {
  if (!check(cudaSetDevice(device_id), "cudaSetDevice", err, err_len)) return 1;
  const size_t pixels = static_cast<size_t>(in.rx2 - in.rx1 + 1) * (in.ry2 - in.ry1 + 1);
  const size_t out_bytes = pixels * out_elem_bytes;
  const size_t mask_bytes = static_cast<size_t>(in.num_masks) * in.src_h * in.src_w * sizeof(float);
  const size_t extent_bytes = static_cast<size_t>(in.num_masks) * 4 * sizeof(int);
  const size_t member_bytes = static_cast<size_t>(in.num_members) * sizeof(long long);
  const size_t weight_bytes = static_cast<size_t>(in.num_members) * sizeof(float);
  float *masks_dev = nullptr, *weights_dev = nullptr;
  int *extents_dev = nullptr;
  long long *members_dev = nullptr;
  void *out_dev = nullptr;
  bool ok =
      check(cudaMalloc(&masks_dev, mask_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&extents_dev, extent_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&members_dev, member_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&weights_dev, weight_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMalloc(&out_dev, out_bytes), "cudaMalloc", err, err_len) &&
      check(cudaMemcpy(masks_dev, in.masks, mask_bytes, cudaMemcpyHostToDevice), "cudaMemcpy",
            err, err_len) &&
      check(cudaMemcpy(extents_dev, in.extents, extent_bytes, cudaMemcpyHostToDevice),
            "cudaMemcpy", err, err_len) &&
      check(cudaMemcpy(members_dev, in.members, member_bytes, cudaMemcpyHostToDevice),
            "cudaMemcpy", err, err_len) &&
      check(cudaMemcpy(weights_dev, in.weights, weight_bytes, cudaMemcpyHostToDevice),
            "cudaMemcpy", err, err_len);
  if (ok) {
    const int blocks = static_cast<int>((pixels + kThreads - 1) / kThreads);
    launch(blocks, masks_dev, extents_dev, members_dev, weights_dev, out_dev);
    ok = check(cudaGetLastError(), "mask voting kernel launch", err, err_len) &&
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
  if (num_members == 0) {  // no weight at all: the CPU answer is all zeros
    for (size_t p = 0; p < static_cast<size_t>(rw) * rh; ++p) out[p] = 0;
    return 0;
  }
  const VoteInputs in = {masks, num_masks, src_h, src_w, extents, members, weights,
                         num_members, rx1, ry1, rx2, ry2, binary_thresh, binarize_inputs};
  return run_on_device(in, out, sizeof(unsigned char), device_id, err, err_len,
                       [&](int blocks, const float *m, const int *e, const long long *mb,
                           const float *w, void *o) {
                         vote_region_kernel<<<blocks, kThreads>>>(
                             static_cast<unsigned char *>(o), m, src_h, src_w, e, mb, w,
                             num_members, rx1, ry1, rw, rh, binary_thresh, binarize_inputs);
                       });
}

extern "C" int fcis_gpu_vote_soft(double *out, const float *masks, int num_masks, int src_h,
                                  int src_w, const int *extents, const long long *members,
                                  const float *weights, int num_members, int rx1, int ry1,
                                  int rx2, int ry2, float binary_thresh, int binarize_inputs,
                                  int device_id, char *err, int err_len) {
  if (!valid_arguments(num_masks, src_h, src_w, members, num_members, rx1, ry1, rx2, ry2, err,
                       err_len))
    return 1;
  const int rw = rx2 - rx1 + 1;
  const int rh = ry2 - ry1 + 1;
  if (num_members == 0) {  // nothing votes: all sums are zero
    for (size_t p = 0; p < static_cast<size_t>(rw) * rh; ++p) out[p] = 0.0;
    return 0;
  }
  const VoteInputs in = {masks, num_masks, src_h, src_w, extents, members, weights,
                         num_members, rx1, ry1, rx2, ry2, binary_thresh, binarize_inputs};
  return run_on_device(in, out, sizeof(double), device_id, err, err_len,
                       [&](int blocks, const float *m, const int *e, const long long *mb,
                           const float *w, void *o) {
                         vote_soft_kernel<<<blocks, kThreads>>>(
                             static_cast<double *>(o), m, src_h, src_w, e, mb, w, num_members,
                             rx1, ry1, rw, rh, binary_thresh, binarize_inputs);
                       });
}
