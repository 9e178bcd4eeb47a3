// philox.cpp: the counter-based z stream on the CPU (and the dispatch to the
// CUDA kernel): one fused pass per call, z generated and applied element by
// element in registers, no parameter-sized temporary, SIMD, at::parallel_for
// over 32-element groups. The definition of z is in philox.h. Three builds
// of the CPU loop give the same values: the portable one here (8 lanes of
// GCC vector extensions, SSE2 on x86-64), and on x86-64 philox_avx2.cpp
// (AVX2 intrinsics) and philox_avx512.cpp (AVX-512F, 16 lanes), each
// compiled for its instruction set alone; simd_level picks the widest the
// CPU has when the first pass runs (nothing needs AVX at build time). This file is compiled with -O3 -ffp-contract=off
// -fno-math-errno -fopenmp (Makefile): no fused multiply-adds, so every lane
// rounds as the scalar code and the CUDA kernel do; OpenMP because ATen's
// parallel_for is an inline OpenMP region in libtorch's OpenMP builds.
#include <atomic>
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "philox_cpu.h"
#include "philox_cuda.h"

#if defined(MZ_WITH_CUDA) && defined(MZ_WITH_CUDA_KERNELS)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace mzphilox {

namespace portable {
MZ_PHILOX_RUN_DEFS(Batch8)
}  // namespace portable

// cpu_simd is the widest build the CPU (and the OS's saved vector state,
// which __builtin_cpu_supports checks) can run.
int cpu_simd() {
#if defined(__x86_64__) && defined(MZ_X86_SIMD)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return kSimdAVX512;
  if (__builtin_cpu_supports("avx2")) return kSimdAVX2;
#endif
  return kSimdPortable;
}

// simd_level is the build passes use: the CPU's widest unless
// mz_philox_simd chose a narrower one (tests, benchmarks). All of them give
// the same values.
std::atomic<int> g_simd{-1};
int simd_level() {
  int l = g_simd.load(std::memory_order_relaxed);
  if (l < 0) {
    l = cpu_simd();
    g_simd.store(l, std::memory_order_relaxed);
  }
  return l;
}

// run is a range of a pass in the build of the given level.
template <typename T>
void run(int level, int op, T *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k) {
#if defined(__x86_64__) && defined(MZ_X86_SIMD)
  if (level == kSimdAVX512) return avx512::run(op, d, off, begin, end, seed, t, k);
  if (level == kSimdAVX2) return avx2::run(op, d, off, begin, end, seed, t, k);
#endif
  portable::run(op, d, off, begin, end, seed, t, k);
}

}  // namespace mzphilox

namespace mz {

// Slice is one tensor of a pass: the tensor and its index t in the list
// (z's second argument).
struct PhiloxSlice {
  at::Tensor x;
  uint32_t t;
  int64_t offset;  // element offset of x's first element in z (0 but for tests)
};

// philox_pass applies op to every slice with z(seed, t, offset + i), a
// parallel_for over groups of grain elements (a multiple of 32) per CPU
// tensor, one kernel launch per batch of CUDA tensors.
void philox_pass(const std::vector<PhiloxSlice> &ss, int op, uint64_t seed, mzphilox::Coef k, int64_t grain) {
  sync_threads();
#ifdef _OPENMP
  // at::parallel_for is inline OpenMP (this file is built with -fopenmp):
  // the runtime we linked may not be libtorch's own (a pip wheel bundles
  // its libgomp), so give ours libtorch's thread count.
  if (omp_get_max_threads() != at::get_num_threads()) omp_set_num_threads(at::get_num_threads());
#endif
  at::NoGradGuard ng;
  using namespace mzphilox;
  int64_t ggrain = std::max<int64_t>(1, grain / kGroup);
  std::vector<CudaSlice> cuda;
  for (auto &s : ss) {
    auto &x = s.x;
    if (x.numel() == 0) continue;
    if (!x.is_contiguous()) throw std::invalid_argument("philox z: tensor " + std::to_string(s.t) + " is not contiguous");
    bool f64 = x.scalar_type() == at::kDouble;
    if (!f64 && x.scalar_type() != at::kFloat)
      throw std::invalid_argument(std::string("philox z: tensor ") + std::to_string(s.t) + " is " +
                                  c10::toString(x.scalar_type()) + "; perturbed weights are float32 or float64 (half precision keeps float32 master weights)");
    if (x.device().is_cuda()) {
      cuda.push_back({x.data_ptr(), x.numel(), s.offset, s.t, f64, static_cast<int>(x.device().index())});
      continue;
    }
    if (!x.device().is_cpu()) throw std::invalid_argument("philox z: tensor on " + x.device().str());
    int64_t b0 = s.offset, e0 = s.offset + x.numel();
    int64_t g0 = b0 / kGroup, g1 = (e0 + kGroup - 1) / kGroup;
    void *base = x.data_ptr();
    int level = simd_level();
    at::parallel_for(g0, g1, ggrain, [&](int64_t gb, int64_t ge) {
      int64_t b = std::max(b0, gb * kGroup), e = std::min(e0, ge * kGroup);
      if (f64) {
        run(level, op, static_cast<double *>(base), b0, b, e, seed, s.t, k);
      } else {
        run(level, op, static_cast<float *>(base), b0, b, e, seed, s.t, k);
      }
    });
  }
  if (cuda.empty()) return;
#if defined(MZ_WITH_CUDA) && defined(MZ_WITH_CUDA_KERNELS)
  for (size_t i = 0; i < cuda.size();) {
    size_t j = i;
    while (j < cuda.size() && cuda[j].device == cuda[i].device) j++;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(cuda[i].device));
    auto stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(cuda[i].device));
    philox_cuda_pass(op, cuda.data() + i, static_cast<int>(j - i), seed, k, stream.stream());
    i = j;
  }
#else
  throw std::runtime_error("philox z on CUDA: this shim was built without its CUDA kernels (build.sh found no nvcc)");
#endif
}

// philox_list runs pass op over a parameter list (tensor i has index i).
void philox_list(mz_params_s &p, int op, uint64_t seed, double a, double b, double c, double d) {
  std::vector<PhiloxSlice> ss;
  ss.reserve(p.ts.size());
  for (size_t i = 0; i < p.ts.size(); i++) ss.push_back({p.ts[i], static_cast<uint32_t>(i), 0});
  mzphilox::Coef k{static_cast<float>(a), static_cast<float>(b), static_cast<float>(c), static_cast<float>(d)};
  philox_pass(ss, op, seed, k, p.chunk > 0 ? p.chunk : (int64_t(1) << 18));
}

// philox_accumulate_grad adds g·z to every tensor's .grad (zeros first where
// there is none): tensor i's gradient takes z(seed, i, ·), as its weights do.
void philox_accumulate_grad(mz_params_s &p, uint64_t seed, double g) {
  at::NoGradGuard ng;
  std::vector<PhiloxSlice> ss;
  for (size_t i = 0; i < p.ts.size(); i++) {
    auto &grad = p.ts[i].mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(p.ts[i], p.ts[i].options().requires_grad(false));
    ss.push_back({grad, static_cast<uint32_t>(i), 0});
  }
  philox_pass(ss, mzphilox::kPerturb, seed, {static_cast<float>(g), 0, 0, 0}, p.chunk > 0 ? p.chunk : (int64_t(1) << 18));
}

}  // namespace mz

extern "C" {

mz_err mz_params_set_z_stream(mz_params h, int stream) {
  MZ_TRY({
    if (h == nullptr) throw std::invalid_argument("nil parameter list");
    if (stream != MZ_Z_TORCH && stream != MZ_Z_PHILOX)
      throw std::invalid_argument("unknown z stream " + std::to_string(stream) + " (want torch or philox)");
    h->z = stream;
  })
}

mz_err mz_philox_fill(mz_tensor h, uint64_t seed, int64_t t, int64_t offset, int64_t grain) {
  MZ_TRY({
    if (t < 0 || t > 0xffffffffLL) throw std::invalid_argument("philox_fill: tensor index " + std::to_string(t) + " out of range");
    if (offset < 0) throw std::invalid_argument("philox_fill: negative offset");
    if (grain <= 0 || grain % mzphilox::kGroup != 0)
      throw std::invalid_argument("philox_fill: grain must be a positive multiple of 32, got " + std::to_string(grain));
    mz::philox_pass({{mz::T(h), static_cast<uint32_t>(t), offset}}, mzphilox::kFill, seed, {0, 0, 0, 0}, grain);
  })
}

mz_err mz_philox_simd(int want, int *got) {
  MZ_TRY({
    using namespace mzphilox;
    int cpu = cpu_simd();
    if (want > cpu) throw std::invalid_argument("philox simd level " + std::to_string(want) + ": this CPU (or this build) has only level " + std::to_string(cpu));
    if (want >= 0) g_simd.store(want, std::memory_order_relaxed);
    else if (want != -1) throw std::invalid_argument("philox simd level " + std::to_string(want));
    *got = simd_level();
  })
}

mz_err mz_philox4x32_10(const uint32_t *ctr, const uint32_t *key, uint32_t *out) {
  MZ_TRY({
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    mzphilox::philox4x32_10<1>(&c0, &c1, &c2, &c3, key[0], key[1]);
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
  })
}

mz_err mz_philox_cuda_kernels(int *out) {
  MZ_TRY({
#if defined(MZ_WITH_CUDA) && defined(MZ_WITH_CUDA_KERNELS)
    *out = 1;
#else
    *out = 0;
#endif
  })
}

}  // extern "C"
