/*!
 * \file harness.cu
 * \brief Host-pointer entry points (extern "C", for ctypes) around the project's own CUDA
 *        launchers: PSROIPooling, ChannelOperator and SpatialMean (lib/ops/*.cu, linked as
 *        they are) and a CUDA-event timer (gc_timer_start / gc_timer_stop) around the
 *        host-pointer entry points that Python calls directly, linked from their own
 *        sources: fcis_gpu_nms (lib/nms/nms_kernel.cu), fcis_gpu_vote_region and
 *        fcis_gpu_vote_soft (lib/masks/mask_voting_kernel.cu); native.PROTOTYPES declares
 *        their argument types to ctypes.
 *
 * Every entry point returns 0 on success, else writes a one-line message into err (err_len
 * bytes) and returns 1. Timed entry points launch once (that launch's result is copied back),
 * then `warmup` untimed launches, then `repeats` launches each timed with CUDA events into
 * times_ms[repeats] (milliseconds, kernel time with device-resident data).
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include <cstdio>
#include <vector>

#include "channel_operator/channel_operator.h"
#include "psroi_pooling/psroi_pooling.h"
#include "spatial_mean/spatial_mean.h"

namespace {

/*! \brief Formats "gpu_check: <what>: <message>" into the caller's buffer. */
struct Error {
  char* buf;
  int len;
  bool fail(const char* what, const char* message) const {
    std::snprintf(buf, len, "gpu_check: %s: %s", what, message);
    return false;
  }
  bool cuda(cudaError_t status, const char* what) const {
    return status == cudaSuccess || fail(what, cudaGetErrorString(status));
  }
};

/*! \brief Device buffers freed together when the call ends. */
struct DeviceBuffers {
  std::vector<void*> ptrs;
  ~DeviceBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
  /*! \brief cudaMalloc of `count` floats (at least one), optionally filled from host. */
  bool alloc(float** dev, const float* host, int64_t count, const Error& e) {
    size_t bytes = sizeof(float) * static_cast<size_t>(count > 0 ? count : 1);
    if (!e.cuda(cudaMalloc(reinterpret_cast<void**>(dev), bytes), "cudaMalloc")) return false;
    ptrs.push_back(*dev);
    if (host == nullptr || count <= 0) return true;
    return e.cuda(cudaMemcpy(*dev, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
  }
};

/*! \brief `warmup` untimed launches, then `repeats` launches timed with CUDA events.
 *         `launch` returns the launcher's error text or nullptr. */
template <typename Launch>
bool run_timed(Launch launch, int warmup, int repeats, float* times_ms, const Error& e) {
  const char* msg = nullptr;
  for (int i = 0; i < warmup; ++i) launch();
  cudaEvent_t start, stop;
  if (!e.cuda(cudaEventCreate(&start), "cudaEventCreate")) return false;
  if (!e.cuda(cudaEventCreate(&stop), "cudaEventCreate")) return false;
  bool ok = true;
  for (int i = 0; ok && i < repeats; ++i) {
    cudaEventRecord(start);
    msg = launch();
    cudaEventRecord(stop);
    ok = (msg == nullptr || e.fail("kernel launch", msg)) &&
         e.cuda(cudaEventSynchronize(stop), "timed kernel run") &&
         e.cuda(cudaEventElapsedTime(times_ms + i, start, stop), "cudaEventElapsedTime");
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ok;
}

bool copy_back(float* host, const float* dev, int64_t count, const Error& e) {
  if (count <= 0) return true;
  return e.cuda(cudaMemcpy(host, dev, sizeof(float) * count, cudaMemcpyDeviceToHost),
                "cudaMemcpy to host");
}

cudaEvent_t g_timer_start = nullptr, g_timer_stop = nullptr;

}  // namespace

extern "C" {

/*! \brief Number of CUDA devices; compute capability and name of device 0. */
int gc_device_info(int* count, int* major, int* minor, char* name, int name_len, char* err,
                   int err_len) {
  Error e{err, err_len};
  *count = 0;
  if (!e.cuda(cudaGetDeviceCount(count), "cudaGetDeviceCount")) return 1;
  if (*count == 0) return 0;
  cudaDeviceProp prop;
  if (!e.cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
  *major = prop.major;
  *minor = prop.minor;
  std::snprintf(name, name_len, "%s", prop.name);
  return 0;
}

/*!
 * \brief PSROIPooling forward (backward = 0) or backward (backward = 1) on device 0.
 * dims: [batch N, channels C, height H, width W, num_rois R, output_dim D, pooled P, group G]
 * forward:  in = data (N, C, H, W), rois (R, 5) -> out (R, D, P, P); rois_grad unused
 * backward: in = out_grad (R, D, P, P), rois -> out = data_grad (N, C, H, W),
 *           rois_grad (R, 5)
 */
int gc_psroi(int backward, const int* dims, float spatial_scale, const float* in,
             const float* rois, float* out, float* rois_grad, int warmup, int repeats,
             float* times_ms, char* err, int err_len) {
  Error e{err, err_len};
  fcis_ops::PSROIPoolingShape s{spatial_scale, dims[5], dims[6], dims[7], dims[0],
                                dims[1], dims[2], dims[3], dims[4]};
  const int64_t data_n = static_cast<int64_t>(s.batch) * s.channels * s.height * s.width;
  const int64_t out_n = static_cast<int64_t>(s.num_rois) * s.output_dim * s.pooled_size *
                        s.pooled_size;
  DeviceBuffers buf;
  float *d_in, *d_rois, *d_out, *d_rois_grad;
  if (!buf.alloc(&d_in, in, backward ? out_n : data_n, e) ||
      !buf.alloc(&d_rois, rois, 5 * static_cast<int64_t>(s.num_rois), e) ||
      !buf.alloc(&d_out, nullptr, backward ? data_n : out_n, e) ||
      !buf.alloc(&d_rois_grad, nullptr, 5 * static_cast<int64_t>(s.num_rois), e))
    return 1;
  auto launch = [&]() {
    return backward ? fcis_ops::psroi_pooling_backward_gpu(s, d_in, d_rois, d_out, d_rois_grad,
                                                           nullptr)
                    : fcis_ops::psroi_pooling_forward_gpu(s, d_in, d_rois, d_out, nullptr);
  };
  // The first launch's result is the one compared; copy it before the timed launches.
  const char* msg = launch();
  if (msg != nullptr) return e.fail("kernel launch", msg), 1;
  if (!copy_back(out, d_out, backward ? data_n : out_n, e)) return 1;
  if (backward && !copy_back(rois_grad, d_rois_grad, 5 * static_cast<int64_t>(s.num_rois), e))
    return 1;
  return run_timed(launch, warmup, repeats, times_ms, e) ? 0 : 1;
}

/*!
 * \brief ChannelOperator forward (backward = 0) or backward (backward = 1) on device 0.
 * dims: [op_type, pick_type, group, num N, k, spatial] (ChannelOpShape, op/pick enums of
 *       channel_operator.h). data: (N, group*k, spatial); pick_idx: (N,) labels or
 *       (N, group) scores, Group_Pick only (else may be null).
 * forward:  result = output ((N, group, spatial) Max, (N, group*k, spatial) Softmax,
 *           (N, k, spatial) Pick).
 * backward: fwd_out = the forward output (Softmax), out_grad shaped like it;
 *           result = data_grad (N, group*k, spatial); pick_grad (N,) or (N, group) zeros.
 */
int gc_channel_op(int backward, const int64_t* dims, const float* data, const float* pick_idx,
                  const float* fwd_out, const float* out_grad, float* result, float* pick_grad,
                  int warmup, int repeats, float* times_ms, char* err, int err_len) {
  Error e{err, err_len};
  fcis_ops::ChannelOpShape s{static_cast<int>(dims[0]), static_cast<int>(dims[1]),
                             static_cast<int>(dims[2]), static_cast<int>(dims[3]),
                             static_cast<int>(dims[4]), dims[5]};
  const int64_t data_n = static_cast<int64_t>(s.num) * s.group * s.k * s.spatial;
  const int64_t out_n = s.op_type == fcis_ops::kGroupMax    ? data_n / s.k
                        : s.op_type == fcis_ops::kGroupPick ? data_n / s.group
                                                            : data_n;
  const bool pick = s.op_type == fcis_ops::kGroupPick;
  const int64_t pick_n = !pick ? 0 : (s.pick_type == fcis_ops::kScorePick ? s.group : 1) *
                                         static_cast<int64_t>(s.num);
  DeviceBuffers buf;
  float *d_data, *d_pick, *d_fwd, *d_grad, *d_result, *d_pick_grad;
  if (!buf.alloc(&d_data, data, data_n, e) || !buf.alloc(&d_pick, pick_idx, pick_n, e) ||
      !buf.alloc(&d_fwd, backward ? fwd_out : nullptr, backward ? out_n : 0, e) ||
      !buf.alloc(&d_grad, backward ? out_grad : nullptr, backward ? out_n : 0, e) ||
      !buf.alloc(&d_result, nullptr, backward ? data_n : out_n, e) ||
      !buf.alloc(&d_pick_grad, nullptr, pick_n, e))
    return 1;
  float* pick_arg = pick ? d_pick : nullptr;
  auto launch = [&]() {
    return backward ? fcis_ops::channel_operator_backward_gpu(s, d_grad, d_data, pick_arg,
                                                              d_fwd, d_result,
                                                              pick ? d_pick_grad : nullptr,
                                                              nullptr)
                    : fcis_ops::channel_operator_forward_gpu(s, d_data, pick_arg, d_result,
                                                             nullptr);
  };
  const char* msg = launch();
  if (msg != nullptr) return e.fail("kernel launch", msg), 1;
  if (!copy_back(result, d_result, backward ? data_n : out_n, e)) return 1;
  if (backward && pick && !copy_back(pick_grad, d_pick_grad, pick_n, e)) return 1;
  return run_timed(launch, warmup, repeats, times_ms, e) ? 0 : 1;
}

/*! \brief SpatialMean: dims = (rows, count). Forward: input = data (rows * count), result =
 *         (rows); backward: input = out_grad (rows), result = data_grad (rows * count). */
int gc_spatial_mean(int backward, const int64_t* dims, const float* input, float* result,
                    int warmup, int repeats, float* times_ms, char* err, int err_len) {
  Error e{err, err_len};
  const fcis_ops::SpatialMeanShape s{dims[0], dims[1]};
  const int64_t data_n = s.rows * s.count;
  DeviceBuffers buf;
  float *d_input, *d_result;
  if (!buf.alloc(&d_input, input, backward ? s.rows : data_n, e) ||
      !buf.alloc(&d_result, nullptr, backward ? data_n : s.rows, e))
    return 1;
  auto launch = [&]() {
    return backward ? fcis_ops::spatial_mean_backward_gpu(s, d_input, d_result, nullptr)
                    : fcis_ops::spatial_mean_forward_gpu(s, d_input, d_result, nullptr);
  };
  const char* msg = launch();
  if (msg != nullptr) return e.fail("kernel launch", msg), 1;
  if (!copy_back(result, d_result, backward ? data_n : s.rows, e)) return 1;
  return run_timed(launch, warmup, repeats, times_ms, e) ? 0 : 1;
}

/*! \brief Records the start event on the default stream (for a synchronous host call). */
int gc_timer_start(char* err, int err_len) {
  Error e{err, err_len};
  if (g_timer_start == nullptr &&
      (!e.cuda(cudaEventCreate(&g_timer_start), "cudaEventCreate") ||
       !e.cuda(cudaEventCreate(&g_timer_stop), "cudaEventCreate")))
    return 1;
  return e.cuda(cudaEventRecord(g_timer_start), "cudaEventRecord") ? 0 : 1;
}

/*! \brief Records the stop event and writes the milliseconds since gc_timer_start. */
int gc_timer_stop(float* ms, char* err, int err_len) {
  Error e{err, err_len};
  bool ok = e.cuda(cudaEventRecord(g_timer_stop), "cudaEventRecord") &&
            e.cuda(cudaEventSynchronize(g_timer_stop), "cudaEventSynchronize") &&
            e.cuda(cudaEventElapsedTime(ms, g_timer_start, g_timer_stop), "cudaEventElapsedTime");
  return ok ? 0 : 1;
}

}  // extern "C"
