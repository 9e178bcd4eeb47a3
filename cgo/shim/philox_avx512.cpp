// philox_avx512.cpp: the AVX-512F build of the philox pass (16 lanes: two
// consecutive groups per vector). Compiled with -mavx512f -O3
// -ffp-contract=off -fno-math-errno (Makefile) and called only where the
// CPU has AVX-512F (simd_level in philox.cpp).
//
// Groups G and G+1 are the counters n = 8G … 8G+15, consecutive, so one
// 16-lane vector holds both (the carry of lo32 n into hi32 n is added lane
// by lane: 8G is a multiple of 8, but 8G + 15 may cross 2³²). The Philox
// rounds and Box–Muller are philox.h's templates over 16-lane GCC vector
// types, with the helpers below (mulhilo: vpmuludq on the even and the
// shifted odd lanes, recombined with masked in-lane shuffles); the outputs,
// lanes 0–7 for group G and 8–15 for group G+1, are put back in the groups'
// layout with 128-bit shuffles.
#include <immintrin.h>
#include <stdint.h>

#if !defined(__AVX512F__)
#error "philox_avx512.cpp is compiled with -mavx512f (Makefile)"
#endif

namespace mzphilox {

// The 16-lane vector types and the helpers philox.h's templates need,
// declared before them.
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef float f32x16 __attribute__((vector_size(64)));
#define MZ_AI static inline __attribute__((always_inline))
// mulhilo: hi and lo words of a·m per lane: even lanes take the even
// products' high (low) words, odd lanes the odd products'.
MZ_AI void mulhilo(u32x16 a, uint32_t m, u32x16 &hi, u32x16 &lo) {
  const __m512i mv = _mm512_set1_epi32(static_cast<int>(m)), w = reinterpret_cast<__m512i>(a);
  __m512i pe = _mm512_mul_epu32(w, mv);                         // lanes 0, 2, …: 64-bit products
  __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(w, 32), mv);  // lanes 1, 3, …
  hi = reinterpret_cast<u32x16>(_mm512_mask_shuffle_epi32(po, 0x5555, pe, static_cast<_MM_PERM_ENUM>(0xf5)));
  lo = reinterpret_cast<u32x16>(_mm512_mask_shuffle_epi32(pe, 0xaaaa, po, static_cast<_MM_PERM_ENUM>(0xa0)));
}
MZ_AI f32x16 as_float(u32x16 u) { return reinterpret_cast<f32x16>(u); }
MZ_AI u32x16 as_uint(f32x16 f) { return reinterpret_cast<u32x16>(f); }
MZ_AI f32x16 to_float(i32x16 i) { return __builtin_convertvector(i, f32x16); }
MZ_AI i32x16 to_int(u32x16 u) { return reinterpret_cast<i32x16>(u); }
MZ_AI f32x16 fsqrt(f32x16 x) { return reinterpret_cast<f32x16>(_mm512_sqrt_ps(reinterpret_cast<__m512>(x))); }
MZ_AI f32x16 self(i32x16 c, f32x16 a, f32x16 b) { return c ? a : b; }
MZ_AI i32x16 seli(i32x16 c, i32x16 a, i32x16 b) { return c ? a : b; }

}  // namespace mzphilox

#include "philox_cpu.h"

namespace mzphilox {
namespace avx512 {
namespace {

// Batch16: kGroups consecutive groups, two per vector, K vectors' Philox
// chains interleaved.
struct Batch16 {
  typedef f32x16 F;
  static constexpr int K = 2;
  static constexpr int kGroups = 2 * K;
  __attribute__((always_inline)) static void groups(uint64_t seed, uint32_t t, uint64_t g, float *out) {
    const u32x16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    u32x16 c0[K], c1[K], c2[K], c3[K];
    for (int j = 0; j < K; j++) {
      uint64_t n = (g + 2 * j) * kLanes;
      uint32_t lo = static_cast<uint32_t>(n);
      c0[j] = lo + lane;
      c1[j] = static_cast<uint32_t>(n >> 32) - reinterpret_cast<u32x16>(c0[j] < lo);  // + 1 where lo32 carried
      c2[j] = u32x16{} + t;
      c3[j] = u32x16{} + kTag;
    }
    philox4x32_10<K>(c0, c1, c2, c3, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    for (int j = 0; j < K; j++) {
      f32x16 z0, z1, z2, z3;
      box_muller<u32x16, i32x16, f32x16>(c0[j], c1[j], z0, z1);
      box_muller<u32x16, i32x16, f32x16>(c2[j], c3[j], z2, z3);
      __m512 a = reinterpret_cast<__m512>(z0), b = reinterpret_cast<__m512>(z1);
      __m512 c = reinterpret_cast<__m512>(z2), d = reinterpret_cast<__m512>(z3);
      // group g+2j: lanes 0–7 of z0, z1, z2, z3; group g+2j+1: lanes 8–15.
      float *o = out + 2 * j * kGroup;
      _mm512_store_ps(o, _mm512_shuffle_f32x4(a, b, 0x44));
      _mm512_store_ps(o + 16, _mm512_shuffle_f32x4(c, d, 0x44));
      _mm512_store_ps(o + 32, _mm512_shuffle_f32x4(a, b, 0xee));
      _mm512_store_ps(o + 48, _mm512_shuffle_f32x4(c, d, 0xee));
    }
  }
};

}  // namespace

MZ_PHILOX_RUN_DEFS(Batch16)

}  // namespace avx512
}  // namespace mzphilox
