// philox_cuda.h: the interface between philox.cpp (g++, libtorch headers)
// and philox_cuda.cu (nvcc, CUDA runtime only): raw pointers and a stream.
#pragma once

#include <stdint.h>

#include "philox.h"

namespace mzphilox {

// CudaSlice is one CUDA tensor of a pass: n contiguous elements (float, or
// double when f64) that take z(seed, t, offset + i).
struct CudaSlice {
  void *data;
  int64_t n;
  int64_t offset;
  uint32_t t;
  bool f64;
  int device;
};

// philox_cuda_pass launches pass op over count slices of one device on
// stream (a cudaStream_t), one kernel per batch of up to kCudaBatch slices;
// it throws std::runtime_error on a CUDA error. Defined only when the shim
// is built with nvcc (MZ_WITH_CUDA_KERNELS).
constexpr int kCudaBatch = 64;
void philox_cuda_pass(int op, const CudaSlice *s, int count, uint64_t seed, Coef k, void *stream);

}  // namespace mzphilox
