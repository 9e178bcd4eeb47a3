// philox_cuda.cu: the philox z pass as one CUDA kernel per batch of tensors
// (built by build.sh only against a CUDA libtorch with nvcc present). One
// thread per Philox counter: counter n = 8·G + v writes elements
// 32·G + 8·L + v, L = 0..3 (philox.h), so a warp's stores are coalesced in
// four runs. Compiled with -fmad=false (no fused multiply-adds) and IEEE
// division and square root, so every value equals the CPU's bit for bit.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "philox_cuda.h"

namespace mzphilox {
namespace {

struct Batch {
  void *data[kCudaBatch];
  int64_t n[kCudaBatch];
  int64_t offset[kCudaBatch];
  uint32_t t[kCudaBatch];
};

template <int OP, typename T>
__global__ void pass_kernel(Batch b, uint64_t seed, Coef k) {
  int s = blockIdx.y;
  T *x = static_cast<T *>(b.data[s]);
  int64_t n = b.n[s], off = b.offset[s];
  uint32_t t = b.t[s];
  int64_t c_begin = (off / kGroup) * kLanes, c_end = ((off + n + kGroup - 1) / kGroup) * kLanes;
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = c_begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < c_end; c += stride) {
    uint64_t g = static_cast<uint64_t>(c) / kLanes;
    int v = static_cast<int>(c % kLanes);
    uint32_t c0 = static_cast<uint32_t>(c), c1 = static_cast<uint32_t>(static_cast<uint64_t>(c) >> 32), c2 = t, c3 = kTag;
    philox4x32_10<1>(&c0, &c1, &c2, &c3, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    float z[4];
    box_muller<uint32_t, int32_t, float>(c0, c1, z[0], z[1]);
    box_muller<uint32_t, int32_t, float>(c2, c3, z[2], z[3]);
#pragma unroll
    for (int l = 0; l < 4; l++) {
      int64_t i = static_cast<int64_t>(g) * kGroup + l * kLanes + v - off;
      if (i >= 0 && i < n) x[i] = apply<OP, T, float>(x[i], z[l], k);
    }
  }
}

template <typename T>
void launch(int op, const Batch &b, int count, int64_t max_counters, uint64_t seed, Coef k, cudaStream_t st) {
  const int threads = 256;
  int64_t blocks = (max_counters + threads - 1) / threads;
  if (blocks > 4096) blocks = 4096;  // grid-stride beyond: a few waves on any GPU
  if (blocks < 1) blocks = 1;
  dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(count));
  switch (op) {
    case kFill: pass_kernel<kFill, T><<<grid, threads, 0, st>>>(b, seed, k); break;
    case kPerturb: pass_kernel<kPerturb, T><<<grid, threads, 0, st>>>(b, seed, k); break;
    case kUpdate: pass_kernel<kUpdate, T><<<grid, threads, 0, st>>>(b, seed, k); break;
    default: pass_kernel<kRestoreUpdate, T><<<grid, threads, 0, st>>>(b, seed, k); break;
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("philox z kernel: ") + cudaGetErrorString(err));
}

}  // namespace

void philox_cuda_pass(int op, const CudaSlice *s, int count, uint64_t seed, Coef k, void *stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  // Batches hold slices of one dtype: float and double tensors go apart.
  for (int want64 = 0; want64 < 2; want64++) {
    Batch b;
    int m = 0;
    int64_t max_counters = 0;
    auto flush = [&]() {
      if (m == 0) return;
      if (want64) launch<double>(op, b, m, max_counters, seed, k, st);
      else launch<float>(op, b, m, max_counters, seed, k, st);
      m = 0;
      max_counters = 0;
    };
    for (int i = 0; i < count; i++) {
      if (s[i].f64 != (want64 == 1) || s[i].n == 0) continue;
      b.data[m] = s[i].data;
      b.n[m] = s[i].n;
      b.offset[m] = s[i].offset;
      b.t[m] = s[i].t;
      int64_t cb = (s[i].offset / kGroup) * kLanes, ce = ((s[i].offset + s[i].n + kGroup - 1) / kGroup) * kLanes;
      if (ce - cb > max_counters) max_counters = ce - cb;
      if (++m == kCudaBatch) flush();
    }
    flush();
  }
}

}  // namespace mzphilox
