// philox_cpu.h: the CPU side of a philox pass, shared by the three builds of
// it (philox.cpp: portable GCC vectors; philox_avx2.cpp and
// philox_avx512.cpp: intrinsics, each compiled for its instruction set and
// picked at run time, see simd_level in philox.cpp). Each build supplies a
// Batch: Batch::kGroups consecutive 32-element groups of z at once, in the
// layout of philox.h, written to a buffer; range applies a pass with it.
// Every build computes the values of philox.h's definition bit for bit
// (integer ops, and IEEE +, −, ×, ÷, sqrt with -ffp-contract=off).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "philox.h"

namespace mzphilox {

// The builds' Batch types live in anonymous namespaces and range and
// run_batch are static, so that each build's code stays its own (see MZ_HD
// in philox.h).

// Simd levels (simd_level, mz_philox_simd).
enum SimdLevel : int { kSimdPortable = 0, kSimdAVX2 = 1, kSimdAVX512 = 2 };

// range applies pass OP to elements [begin, end) of tensor t (x points at
// element off): runs of Batch::kGroups whole groups through Batch, applied
// W floats at a time with the vector type F (W lanes); the rest (partial
// groups at either end, a short tail) with the scalar definition.
template <class Batch, int OP, typename T>
MZ_VI void range(T *x, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t,
                                                 const Coef &k) {
  using F = typename Batch::F;
  constexpr int W = sizeof(F) / sizeof(float);
  constexpr int NG = Batch::kGroups;
  auto d = [&](int64_t i) -> T & { return x[i - off]; };
  alignas(64) float z[NG * kGroup];
  int64_t g = begin / kGroup;
  for (; g * kGroup < end; g++) {
    int64_t base = g * kGroup;
    if (base >= begin && base + NG * kGroup <= end) {
      Batch::groups(seed, t, static_cast<uint64_t>(g), z);
      if constexpr (std::is_same<T, float>::value) {
        for (int l = 0; l < NG * kGroup / W; l++) {
          F th, zv;
          std::memcpy(&th, &d(base + l * W), sizeof th);
          std::memcpy(&zv, z + l * W, sizeof zv);
          th = apply<OP, F, F>(th, zv, k);
          std::memcpy(&d(base + l * W), &th, sizeof th);
        }
      } else {
        for (int i = 0; i < NG * kGroup; i++) d(base + i) = apply<OP, T, float>(d(base + i), z[i], k);
      }
      g += NG - 1;
      continue;
    }
    // a partial group, or whole ones too few for a batch: scalar
    scalar_group(seed, t, static_cast<uint64_t>(g), z);
    int64_t lo = std::max(begin, base), hi = std::min(end, base + kGroup);
    for (int64_t i = lo; i < hi; i++) d(i) = apply<OP, T, float>(d(i), z[i - base], k);
  }
}

// run_batch is range with the pass chosen at run time.
template <class Batch, typename T>
static void run_batch(int op, T *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k) {
  switch (op) {
    case kFill: range<Batch, kFill>(d, off, begin, end, seed, t, k); break;
    case kPerturb: range<Batch, kPerturb>(d, off, begin, end, seed, t, k); break;
    case kUpdate: range<Batch, kUpdate>(d, off, begin, end, seed, t, k); break;
    default: range<Batch, kRestoreUpdate>(d, off, begin, end, seed, t, k); break;
  }
}

namespace {
// Batch8 is scalar_group in 8 lanes for kGroups consecutive groups g, g+1,
// ... at once, their Philox chains interleaved (GCC vector extensions; the
// portable build and, compiled with -mavx2, the AVX2 one).
struct Batch8 {
  typedef f32v F;
  static constexpr int kGroups = 2;
  __attribute__((always_inline)) static void groups(uint64_t seed, uint32_t t, uint64_t g, float *out) {
    constexpr int K = kGroups;
    const u32v lane = {0, 1, 2, 3, 4, 5, 6, 7};
    u32v c0[K], c1[K], c2[K], c3[K];
    for (int j = 0; j < K; j++) {
      uint64_t n = (g + j) * kLanes;  // a multiple of 8: lo32(n) + 7 does not carry
      c0[j] = static_cast<uint32_t>(n) + lane;
      c1[j] = u32v{} + static_cast<uint32_t>(n >> 32);
      c2[j] = u32v{} + t;
      c3[j] = u32v{} + kTag;
    }
    philox4x32_10<K>(c0, c1, c2, c3, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    for (int j = 0; j < K; j++) {
      f32v z[4];
      box_muller<u32v, i32v, f32v>(c0[j], c1[j], z[0], z[1]);
      box_muller<u32v, i32v, f32v>(c2[j], c3[j], z[2], z[3]);
      std::memcpy(out + j * kGroup, z, sizeof z);
    }
  }
};
}  // namespace

// The builds' entry points, run (float and double) in namespaces portable
// (philox.cpp), avx2 (philox_avx2.cpp) and avx512 (philox_avx512.cpp);
// MZ_PHILOX_RUN_DEFS(Batch) defines them in a build's namespace.
#define MZ_PHILOX_RUN_DEFS(Batch)                                                                              \
  void run(int op, float *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k) {      \
    run_batch<Batch, float>(op, d, off, begin, end, seed, t, k);                                                \
  }                                                                                                             \
  void run(int op, double *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k) { \
    run_batch<Batch, double>(op, d, off, begin, end, seed, t, k);                                               \
  }
#define MZ_PHILOX_RUN_DECL(ns)                                                                                  \
  namespace ns {                                                                                                \
  void run(int op, float *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k);  \
  void run(int op, double *d, int64_t off, int64_t begin, int64_t end, uint64_t seed, uint32_t t, Coef k); \
  }
MZ_PHILOX_RUN_DECL(portable)
MZ_PHILOX_RUN_DECL(avx2)
MZ_PHILOX_RUN_DECL(avx512)
#undef MZ_PHILOX_RUN_DECL

}  // namespace mzphilox
