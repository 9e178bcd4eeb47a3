// philox.cpp: the counter-based z stream on the CPU (and the dispatch to the
// CUDA kernel): one fused pass per call, z generated and applied element by
// element in registers, no parameter-sized temporary, 8-wide SIMD (GCC
// vector extensions; an AVX2 clone picked at load time where the CPU has
// it), at::parallel_for over 32-element groups. The definition of z is in
// philox.h. This file is compiled with -O3 -ffp-contract=off
// -fno-math-errno -fopenmp (Makefile): no fused multiply-adds, so every lane
// rounds as the scalar code and the CUDA kernel do; OpenMP because ATen's
// parallel_for is an inline OpenMP region in libtorch's OpenMP builds.
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "philox.h"
#include "philox_cuda.h"

#if defined(MZ_WITH_CUDA) && defined(MZ_WITH_CUDA_KERNELS)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace mzphilox {

// vector_groups is scalar_group in 8 lanes for kILP consecutive groups
// g, g+1, ... at once (out holds kILP·32 values).
constexpr int kILP = 2;
MZ_VI void vector_groups(uint64_t seed, uint32_t t, uint64_t g, float *out) {
  const u32v lane = {0, 1, 2, 3, 4, 5, 6, 7};
  u32v c0[kILP], c1[kILP], c2[kILP], c3[kILP];
  for (int j = 0; j < kILP; j++) {
    uint64_t n = (g + j) * kLanes;  // a multiple of 8: lo32(n) + 7 does not carry
    c0[j] = static_cast<uint32_t>(n) + lane;
    c1[j] = u32v{} + static_cast<uint32_t>(n >> 32);
    c2[j] = u32v{} + t;
    c3[j] = u32v{} + kTag;
  }
  philox4x32_10<kILP>(c0, c1, c2, c3, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int j = 0; j < kILP; j++) {
    f32v z[4];
    box_muller<u32v, i32v, f32v>(c0[j], c1[j], z[0], z[1]);
    box_muller<u32v, i32v, f32v>(c2[j], c3[j], z[2], z[3]);
    std::memcpy(out + j * kGroup, z, sizeof z);
  }
}

// range applies pass OP to elements [begin, end) of tensor t (x points at
// element off): runs of kILP whole groups in vectors, the rest (partial
// groups at either end, a short tail) with the scalar definition.
template <int OP, typename T>
MZ_VI void range(T *x, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, const Coef &k) {
  auto d = [&](int64_t i) -> T & { return x[i - off]; };
  alignas(32) float z[kILP * kGroup];
  int64_t g = begin / kGroup;
  for (; g * kGroup < end; g++) {
    int64_t base = g * kGroup;
    if (base >= begin && base + kILP * kGroup <= end) {
      // kILP whole groups
      vector_groups(seed, t, static_cast<uint64_t>(g), z);
      if constexpr (std::is_same<T, float>::value) {
        for (int l = 0; l < kILP * 4; l++) {
          f32v th, zv;
          std::memcpy(&th, &d(base + l * kLanes), sizeof th);
          std::memcpy(&zv, z + l * kLanes, sizeof zv);
          th = apply<OP, f32v, f32v>(th, zv, k);
          std::memcpy(&d(base + l * kLanes), &th, sizeof th);
        }
      } else {
        for (int i = 0; i < kILP * kGroup; i++) d(base + i) = apply<OP, T, float>(d(base + i), z[i], k);
      }
      g += kILP - 1;
      continue;
    }
    // a partial group, or whole ones too few for a vector batch: scalar
    scalar_group(seed, t, static_cast<uint64_t>(g), z);
    int64_t lo = std::max(begin, base), hi = std::min(end, base + kGroup);
    for (int64_t i = lo; i < hi; i++) d(i) = apply<OP, T, float>(d(i), z[i - base], k);
  }
}

// run is range with the pass chosen at run time; the CPU's AVX2 clone is
// picked when the library loads (ifunc), the default clone is SSE2.
template <typename T>
__attribute__((target_clones("avx2", "default"))) void run(int op, T *d, int64_t off, int64_t begin, int64_t end, uint64_t seed,
                                                           uint32_t t, Coef k) {
  switch (op) {
    case kFill: range<kFill>(d, off, begin, end, seed, t, k); break;
    case kPerturb: range<kPerturb>(d, off, begin, end, seed, t, k); break;
    case kUpdate: range<kUpdate>(d, off, begin, end, seed, t, k); break;
    default: range<kRestoreUpdate>(d, off, begin, end, seed, t, k); break;
  }
}

void run_f32(int op, float *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k) {
  run<float>(op, d, off, begin, end, seed, t, k);
}
void run_f64(int op, double *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k) {
  run<double>(op, d, off, begin, end, seed, t, k);
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
    at::parallel_for(g0, g1, ggrain, [&](int64_t gb, int64_t ge) {
      int64_t b = std::max(b0, gb * kGroup), e = std::min(e0, ge * kGroup);
      if (f64) {
        run_f64(op, static_cast<double *>(base), b0, b, e, seed, s.t, k);
      } else {
        run_f32(op, static_cast<float *>(base), b0, b, e, seed, s.t, k);
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
