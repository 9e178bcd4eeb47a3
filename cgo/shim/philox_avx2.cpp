// philox_avx2.cpp: the AVX2 build of the philox pass: philox_cpu.h's 8-lane
// Batch8 compiled with -mavx2 -O3 -ffp-contract=off -fno-math-errno
// (Makefile), where philox.h's mulhilo is vpmuludq and blends. Called only
// where the CPU has AVX2 (simd_level in philox.cpp).
#include "philox_cpu.h"

#if !defined(__AVX2__)
#error "philox_avx2.cpp is compiled with -mavx2 (Makefile)"
#endif

namespace mzphilox {
namespace avx2 {
MZ_PHILOX_RUN_DEFS(Batch8)
}  // namespace avx2
}  // namespace mzphilox
