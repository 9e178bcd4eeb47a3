// philox.h: the counter-based z stream ("philox"), shared by the CPU code
// (philox.cpp, GCC vector extensions) and the CUDA kernel (philox_cuda.cu,
// scalars). Everything here is written once as templates over a lane type U
// (uint32_t or a vector of them) and a float type F, so both devices run
// the same sequence of IEEE operations: integer ops, +, −, ×, ÷ and sqrt
// only (no libm, no fused multiply-add: philox.cpp is compiled with
// -ffp-contract=off and philox_cuda.cu with -fmad=false), and the values
// are the same bit for bit on every device, thread count and chunking.
//
// Definition. z(seed, t, i) for element i of tensor t of a parameter list:
//   group G = i / 32, r = i % 32, lane L = r / 8, v = r % 8;
//   n = 8·G + v (64-bit), counter = (lo32 n, hi32 n, t, 0x6d657a6f "mezo"),
//   key = (lo32 seed, hi32 seed), (x0, x1, x2, x3) = Philox4x32-10(counter, key)
//   (Salmon et al., SC'11; Random123's constants);
//   Box–Muller on (x0, x1) gives L = 0 (r·cos) and L = 1 (r·sin), on (x2, x3)
//   L = 2 and L = 3, with u1 = (x_even >> 8 + 1)·2⁻²⁴ ∈ (0, 1],
//   u2 = (x_odd >> 8)·2⁻²⁴ ∈ [0, 1), r = sqrt(−2 ln u1), angle 2π·u2.
// The lane layout makes 8 consecutive elements come from 8 consecutive
// counters, so a 32-element group is 8-wide SIMD throughout. |z| ≤ 5.77
// (u1 ≥ 2⁻²⁴); ln and sin/cos are polynomials accurate to a few float ulps.
#pragma once

#include <stdint.h>
#if !defined(__CUDACC__)
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif
#endif

// On the CPU every function here has internal linkage (static): the shim
// compiles this header for several instruction sets (philox_cpu.h), and an
// out-of-line copy built for AVX-512 must never be the one a portable caller
// links to.
#if defined(__CUDACC__)
#define MZ_HD __host__ __device__ __forceinline__
#else
#define MZ_HD static inline
#endif

namespace mzphilox {

constexpr int kLanes = 8;           // counters per group
constexpr int kGroup = 4 * kLanes;  // elements per group
constexpr uint32_t kTag = 0x6d657a6fu;

// The scalar helpers; philox.cpp adds overloads for its vector types.
MZ_HD void mulhilo(uint32_t a, uint32_t m, uint32_t &hi, uint32_t &lo) {
  uint64_t p = static_cast<uint64_t>(a) * m;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}
MZ_HD float as_float(uint32_t u) {
  union { uint32_t u; float f; } x;
  x.u = u;
  return x.f;
}
MZ_HD uint32_t as_uint(float f) {
  union { uint32_t u; float f; } x;
  x.f = f;
  return x.u;
}
MZ_HD float to_float(int32_t i) { return static_cast<float>(i); }
MZ_HD int32_t to_int(uint32_t u) { return static_cast<int32_t>(u); }
MZ_HD uint32_t to_uint(int32_t i) { return static_cast<uint32_t>(i); }
MZ_HD float fsqrt(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return __builtin_sqrtf(x);
#endif
}
// sel(c, a, b) is c ? a : b for a comparison result c.
MZ_HD float self(bool c, float a, float b) { return c ? a : b; }
MZ_HD int32_t seli(bool c, int32_t a, int32_t b) { return c ? a : b; }

#if !defined(__CUDACC__)
#define MZ_VI static inline __attribute__((always_inline))
// The CPU's 8-lane vector types (GCC vector extensions) and their overloads
// of the helpers above, declared before the templates that use them.
typedef uint32_t u32v __attribute__((vector_size(32)));
typedef int32_t i32v __attribute__((vector_size(32)));
typedef float f32v __attribute__((vector_size(32)));

typedef uint64_t u64x4 __attribute__((vector_size(32)));
// mulhilo: the high and low halves of a·m per lane, as even and odd lanes'
// 32×32→64 products recombined. With AVX2 (philox_avx2.cpp) that is
// vpmuludq on a and on a shifted down (it reads only each 64-bit lane's low
// word, so no masking), the words put back with blends; with SSE2 (any
// x86-64: the portable build there) the same in two 4-lane halves, the
// words put back with unpacks; elsewhere the compiler has the multiplies.
MZ_VI void mulhilo(u32v a, uint32_t m, u32v &hi, u32v &lo) {
#if defined(__AVX2__)
  const __m256i mv = _mm256_set1_epi32(static_cast<int>(m)), w = reinterpret_cast<__m256i>(a);
  __m256i pe = _mm256_mul_epu32(w, mv), po = _mm256_mul_epu32(_mm256_srli_epi64(w, 32), mv);
  hi = reinterpret_cast<u32v>(_mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xaa));
  lo = reinterpret_cast<u32v>(_mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa));
#elif defined(__SSE2__)
  const __m128i mv = _mm_set1_epi32(static_cast<int>(m));
  __m128i w[2], h[2], l[2];
  memcpy(w, &a, sizeof w);
  for (int i = 0; i < 2; i++) {
    __m128i pe = _mm_mul_epu32(w[i], mv), po = _mm_mul_epu32(_mm_srli_epi64(w[i], 32), mv);
    __m128i u = _mm_unpacklo_epi32(pe, po), v = _mm_unpackhi_epi32(pe, po);  // (lo, lo, hi, hi) of lanes 0, 1; of 2, 3
    l[i] = _mm_unpacklo_epi64(u, v);
    h[i] = _mm_unpackhi_epi64(u, v);
  }
  memcpy(&hi, h, sizeof h);
  memcpy(&lo, l, sizeof l);
#else
  const uint64_t low = 0xffffffffull;
  u64x4 w = reinterpret_cast<u64x4>(a);
  u64x4 pe = (w & low) * static_cast<uint64_t>(m), po = (w >> 32) * static_cast<uint64_t>(m);
  hi = reinterpret_cast<u32v>((pe >> 32) | (po & ~low));
  lo = reinterpret_cast<u32v>((pe & low) | (po << 32));
#endif
}
MZ_VI f32v as_float(u32v u) { return reinterpret_cast<f32v>(u); }
MZ_VI u32v as_uint(f32v f) { return reinterpret_cast<u32v>(f); }
MZ_VI f32v to_float(i32v i) { return __builtin_convertvector(i, f32v); }
MZ_VI i32v to_int(u32v u) { return reinterpret_cast<i32v>(u); }
MZ_VI f32v fsqrt(f32v x) {
  f32v r;
  for (int i = 0; i < kLanes; i++) r[i] = __builtin_sqrtf(x[i]);
  return r;
}
MZ_VI f32v self(i32v c, f32v a, f32v b) { return c ? a : b; }
MZ_VI i32v seli(i32v c, i32v a, i32v b) { return c ? a : b; }

#endif

// philox4x32_10 transforms K counters (c0[j]..c3[j]) in place with key
// (k0, k1), the K chains interleaved round by round (independent chains
// hide the multiplies' latency).
template <int K, typename U>
MZ_HD void philox4x32_10(U *c0, U *c1, U *c2, U *c3, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; r++) {
    for (int j = 0; j < K; j++) {
      U hi0, lo0, hi1, lo1;
      mulhilo(c0[j], 0xD2511F53u, hi0, lo0);
      mulhilo(c2[j], 0xCD9E8D57u, hi1, lo1);
      U n0 = hi1 ^ c1[j] ^ k0, n2 = hi0 ^ c3[j] ^ k1;
      c0[j] = n0;
      c1[j] = lo1;
      c2[j] = n2;
      c3[j] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// box_muller turns two 32-bit words into two standard normals: zc = r·cos,
// zs = r·sin. U is the unsigned lane type, I the signed one, F the float.
template <typename U, typename I, typename F>
MZ_HD void box_muller(U a, U b, F &zc, F &zs) {
  // ln u1, u1 = (k + 1)·2⁻²⁴: u1's exponent e and mantissa m ∈ [√½, √2),
  // ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716, to s⁹.
  F u1 = to_float(to_int((a >> 8) + 1u)) * 5.9604644775390625e-8f;  // exact
  U bits = as_uint(u1);
  I e = to_int(bits >> 23) - 127;
  F m = as_float((bits & 0x7fffffu) | 0x3f800000u);
  auto big = m > 1.41421356f;
  m = self(big, m * 0.5f, m);
  e = seli(big, e + 1, e);
  F s = (m - 1.0f) / (m + 1.0f);
  F s2 = s * s;
  F p = s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
  F ef = to_float(e);
  // ln 2 = ln2_hi + ln2_lo, ln2_hi with 16 significant bits (e·ln2_hi exact).
  F ln = ef * 0.693145751953125f + (ef * 1.428606765330187e-06f + (s + s) + (s + s) * p);
  F r = fsqrt(-2.0f * ln);
  // sin and cos of 2π·u2, u2 = k·2⁻²⁴: quadrant q = round(4·u2) in integers,
  // the remainder f = k − q·2²² is exact, x = f·2π·2⁻²⁴ ∈ [−π/4, π/4].
  U k = b >> 8;
  U q = (k + (1u << 21)) >> 22;
  I fi = to_int(k) - to_int(q << 22);
  F x = to_float(fi) * 3.7450702e-07f;  // 2π·2⁻²⁴ (float 2π times a power of two)
  F x2 = x * x;
  F sn = x + x * x2 * (-0.166666667f + x2 * (8.33333333e-3f + x2 * (-1.98412698e-4f + x2 * 2.75573192e-6f)));
  F cs = 1.0f + x2 * (-0.5f + x2 * (4.16666667e-2f + x2 * (-1.38888889e-3f + x2 * 2.48015873e-5f)));
  // angle = q·π/2 + x: q = 1 swaps (cos, −sin), q = 2 negates both, q = 3 (−cos, sin).
  I qi = to_int(q & 3u);
  auto swap = (qi & 1) != 0;
  F s1 = self(swap, cs, sn), c1 = self(swap, sn, cs);
  auto neg_s = qi >= 2;
  auto neg_c = (qi == 1) | (qi == 2);
  s1 = self(neg_s, -s1, s1);
  c1 = self(neg_c, -c1, c1);
  zc = r * c1;
  zs = r * s1;
}

// scalar_group writes the 32 z values of group g of tensor t (the reference
// definition; the CUDA kernel and the CPU's partial groups use it).
MZ_HD void scalar_group(uint64_t seed, uint32_t t, uint64_t g, float *out) {
  for (int v = 0; v < kLanes; v++) {
    uint64_t n = g * kLanes + static_cast<uint64_t>(v);
    uint32_t c0 = static_cast<uint32_t>(n), c1 = static_cast<uint32_t>(n >> 32), c2 = t, c3 = kTag;
    philox4x32_10<1>(&c0, &c1, &c2, &c3, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    box_muller<uint32_t, int32_t, float>(c0, c1, out[v], out[kLanes + v]);
    box_muller<uint32_t, int32_t, float>(c2, c3, out[2 * kLanes + v], out[3 * kLanes + v]);
  }
}

// The fused operations of a pass, element θ (or a gradient) with z:
enum Op : int {
  kFill = 0,           // θ = z                           (tests)
  kPerturb = 1,        // θ = θ + a·z                      (a = scale·ε)
  kUpdate = 2,         // θ = θ − lr·(g·z + wd·θ)          (a = g, b = wd, c = lr)
  kRestoreUpdate = 3,  // θ' = θ + ε·z; θ' − lr·(g·z + wd·θ') (d = ε)
};

// Coef are a pass's float coefficients (rounded once from the caller's
// doubles, the same on every device).
struct Coef {
  float a, b, c, d;
};

// apply is one element of pass OP.
template <int OP, typename T, typename F>
MZ_HD T apply(T th, F z, const Coef &k) {
  if (OP == kFill) return z;
  if (OP == kPerturb) return th + k.a * z;
  if (OP == kUpdate) return th - k.c * (k.a * z + k.b * th);
  T t = th + k.d * z;
  return t - k.c * (k.a * z + k.b * t);
}

}  // namespace mzphilox
