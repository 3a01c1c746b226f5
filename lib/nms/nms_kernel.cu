// Bitmask NMS on the GPU. Boxes are split into blocks of 64 (one bit per box in a 64-bit
// word). Thread t of grid cell (row_block, col_block) compares box row_block*64+t with the
// 64 boxes of col_block and writes one word of "suppresses" bits; the host then walks the
// boxes in score order and ORs the words of every kept box into a removal mask.
#include "nms_kernel.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kBlockBoxes = 64;  // bits in unsigned long long

__device__ inline float iou_plus_one(const float *a, const float *b) {
  const float w = fminf(a[2], b[2]) - fmaxf(a[0], b[0]) + 1.0f;
  const float h = fminf(a[3], b[3]) - fmaxf(a[1], b[1]) + 1.0f;
  if (w <= 0.0f || h <= 0.0f) return 0.0f;
  const float inter = w * h;
  const float area_a = (a[2] - a[0] + 1.0f) * (a[3] - a[1] + 1.0f);
  const float area_b = (b[2] - b[0] + 1.0f) * (b[3] - b[1] + 1.0f);
  const float uni = area_a + area_b - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

// boxes: (n, 4) sorted by score; mask: (n, col_blocks) words.
__global__ void nms_mask_kernel(int n, float thresh, const float *boxes,
                                unsigned long long *mask) {
  const int row_block = blockIdx.y;
  const int col_block = blockIdx.x;
  if (row_block > col_block) return;  // a box only suppresses lower-ranked boxes
  const int row_size = min(n - row_block * kBlockBoxes, kBlockBoxes);
  const int col_size = min(n - col_block * kBlockBoxes, kBlockBoxes);

  __shared__ float col_boxes[kBlockBoxes * 4];
  if (threadIdx.x < col_size) {
    const float *src = boxes + (col_block * kBlockBoxes + threadIdx.x) * 4;
    for (int c = 0; c < 4; ++c) col_boxes[threadIdx.x * 4 + c] = src[c];
  }
  __syncthreads();

  if (threadIdx.x < row_size) {
    const int row = row_block * kBlockBoxes + threadIdx.x;
    const float *row_box = boxes + row * 4;
    const int start = (row_block == col_block) ? threadIdx.x + 1 : 0;
    unsigned long long bits = 0;
    for (int c = start; c < col_size; ++c) {
      if (iou_plus_one(row_box, col_boxes + c * 4) > thresh) bits |= 1ULL << c;
    }
    const int col_blocks = (n + kBlockBoxes - 1) / kBlockBoxes;
    mask[row * col_blocks + col_block] = bits;
  }
}

bool check(cudaError_t status, const char *what, char *err, int err_len) {
  if (status == cudaSuccess) return true;
  std::snprintf(err, err_len, "gpu_nms: %s failed: %s", what, cudaGetErrorString(status));
  return false;
}

}  // namespace

// Host code uses only the C library (malloc/free), so the Cython module that links this
// object needs nothing beyond libcudart.
extern "C" int fcis_gpu_nms(int *keep_out, int *num_out, const float *boxes_host,
                            int boxes_num, int boxes_dim, float thresh, int device_id,
                            char *err, int err_len) {
  *num_out = 0;
  if (boxes_num <= 0) return 0;
  if (!check(cudaSetDevice(device_id), "cudaSetDevice", err, err_len)) return 1;

  const int col_blocks = (boxes_num + kBlockBoxes - 1) / kBlockBoxes;
  const size_t coord_bytes = static_cast<size_t>(boxes_num) * 4 * sizeof(float);
  const size_t mask_bytes = static_cast<size_t>(boxes_num) * col_blocks * sizeof(unsigned long long);
  // coords: (boxes_num, 4) -- only the coordinates go to the device.
  float *coords = static_cast<float *>(std::malloc(coord_bytes));
  unsigned long long *mask = static_cast<unsigned long long *>(std::malloc(mask_bytes));
  unsigned long long *removed = static_cast<unsigned long long *>(
      std::calloc(col_blocks, sizeof(unsigned long long)));
  if (coords == nullptr || mask == nullptr || removed == nullptr) {
    std::free(coords); std::free(mask); std::free(removed);
    std::snprintf(err, err_len, "gpu_nms: out of host memory for %d boxes", boxes_num);
    return 1;
  }
  for (int i = 0; i < boxes_num; ++i)
    for (int c = 0; c < 4; ++c) coords[i * 4 + c] = boxes_host[i * boxes_dim + c];

  float *boxes_dev = nullptr;
  unsigned long long *mask_dev = nullptr;
  bool ok = check(cudaMalloc(&boxes_dev, coord_bytes), "cudaMalloc", err, err_len) &&
            check(cudaMalloc(&mask_dev, mask_bytes), "cudaMalloc", err, err_len) &&
            check(cudaMemcpy(boxes_dev, coords, coord_bytes, cudaMemcpyHostToDevice),
                  "cudaMemcpy", err, err_len) &&
            check(cudaMemset(mask_dev, 0, mask_bytes), "cudaMemset", err, err_len);
  if (ok) {
    const dim3 grid(col_blocks, col_blocks);
    nms_mask_kernel<<<grid, kBlockBoxes>>>(boxes_num, thresh, boxes_dev, mask_dev);
    ok = check(cudaGetLastError(), "nms_mask_kernel launch", err, err_len) &&
         check(cudaMemcpy(mask, mask_dev, mask_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy",
               err, err_len);
  }
  cudaFree(boxes_dev);
  cudaFree(mask_dev);

  // Greedy walk in score order.
  int num_kept = 0;
  for (int i = 0; ok && i < boxes_num; ++i) {
    const int block = i / kBlockBoxes;
    const int bit = i % kBlockBoxes;
    if (removed[block] & (1ULL << bit)) continue;
    keep_out[num_kept++] = i;
    const unsigned long long *row = mask + static_cast<size_t>(i) * col_blocks;
    for (int b = block; b < col_blocks; ++b) removed[b] |= row[b];
  }
  std::free(coords);
  std::free(mask);
  std::free(removed);
  *num_out = num_kept;
  return ok ? 0 : 1;
}
