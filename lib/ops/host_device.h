/*!
 * \file host_device.h
 * \brief The one macro that lets a function be called from CPU loops and CUDA kernels alike.
 *
 * The per-element arithmetic of every operator lives in inline functions marked
 * FCIS_HOST_DEVICE. Under nvcc the mark is `__host__ __device__`; under g++ it is empty, so
 * the CPU build (and the CPU tests) run exactly the arithmetic the GPU kernels run.
 */
#ifndef FCIS_OPS_HOST_DEVICE_H_
#define FCIS_OPS_HOST_DEVICE_H_

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define FCIS_HOST_DEVICE __host__ __device__
#else
#define FCIS_HOST_DEVICE
#endif

namespace fcis_ops {

/*! \brief float product rounded once (nvcc would otherwise fuse mul+add into one FMA). */
FCIS_HOST_DEVICE inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

/*! \brief float sum rounded once (see mul_rn). */
FCIS_HOST_DEVICE inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

FCIS_HOST_DEVICE inline int clamp_int(int v, int lo, int hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace fcis_ops

#endif  // FCIS_OPS_HOST_DEVICE_H_
