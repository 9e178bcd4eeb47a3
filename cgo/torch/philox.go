package torch

/*
#include "mz.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"
)

// ZStream is the generator a ParamList draws z from.
type ZStream int

// The z streams (mz.h MZ_Z_*).
const (
	// ZTorch is torch's generator seeded once per pass and consumed tensor by
	// tensor: bit for bit the reference's stream on the CPU, the default.
	ZTorch ZStream = C.MZ_Z_TORCH
	// ZPhilox is the counter-based stream: z(seed, tensor index, element
	// index) from Philox4x32-10 and Box–Muller (cgo/shim/philox.h), the same
	// on every device, thread count and chunk size, generated and applied in
	// one fused, multithreaded pass (one kernel per batch of tensors on
	// CUDA) with no scratch buffer.
	ZPhilox ZStream = C.MZ_Z_PHILOX
)

func (z ZStream) String() string {
	switch z {
	case ZTorch:
		return "torch"
	case ZPhilox:
		return "philox"
	}
	return fmt.Sprintf("ZStream(%d)", int(z))
}

// ParseZStream reads "torch" or "philox".
func ParseZStream(s string) (ZStream, error) {
	switch s {
	case "torch":
		return ZTorch, nil
	case "philox":
		return ZPhilox, nil
	}
	return 0, fmt.Errorf("unknown z stream %q: want torch or philox", s)
}

// SetZStream makes Perturb, Update, RestoreUpdate and AccumulateGrad draw z
// from z. In philox mode SetZChunk's n is the CPU work unit of the parallel
// loop (the values do not depend on it) and the list keeps no scratch.
func (p *ParamList) SetZStream(z ZStream) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_set_z_stream", C.mz_params_set_z_stream(h, C.int(z)))
}

// PhiloxFill sets every element i of t (contiguous float32 or float64) to
// the philox z(seed, index, offset+i), computed in parallel parts of grain
// elements (a positive multiple of 32): what tensor index of a ParamList in
// philox mode is perturbed along, from element offset on.
func PhiloxFill(t *Tensor, seed uint64, index, offset, grain int64) error {
	if t.Closed() {
		return ErrClosed
	}
	return check("philox_fill", C.mz_philox_fill(t.h, C.uint64_t(seed), C.int64_t(index), C.int64_t(offset), C.int64_t(grain)))
}

// Philox4x32 is one Philox4x32-10 block of the shim's generator.
func Philox4x32(ctr [4]uint32, key [2]uint32) ([4]uint32, error) {
	var out [4]uint32
	err := check("philox4x32_10", C.mz_philox4x32_10((*C.uint32_t)(unsafe.Pointer(&ctr[0])),
		(*C.uint32_t)(unsafe.Pointer(&key[0])), (*C.uint32_t)(unsafe.Pointer(&out[0]))))
	return out, err
}

// PhiloxCUDAKernels reports whether the shim was built with the philox CUDA
// kernel (a CUDA libtorch and nvcc at build time).
func PhiloxCUDAKernels() bool {
	var v C.int
	if err := check("philox_cuda_kernels", C.mz_philox_cuda_kernels(&v)); err != nil {
		return false
	}
	return v != 0
}

// philoxSIMDNames are the CPU builds of the philox passes, by level.
var philoxSIMDNames = []string{"portable", "avx2", "avx512"}

// PhiloxSIMD names the CPU build the philox passes run: "avx512"
// (AVX-512F, 16 lanes), "avx2" or "portable" (8 lanes of GCC vectors); by
// default the widest the CPU has. Every build gives the same values.
func PhiloxSIMD() (string, error) {
	var v C.int
	if err := check("philox_simd", C.mz_philox_simd(-1, &v)); err != nil {
		return "", err
	}
	if int(v) < 0 || int(v) >= len(philoxSIMDNames) {
		return "", fmt.Errorf("philox_simd: unknown level %d", int(v))
	}
	return philoxSIMDNames[v], nil
}

// SetPhiloxSIMD chooses the CPU build of the philox passes that follow, by
// name (PhiloxSIMD's); an error names the builds where this CPU lacks it.
// For tests and benchmarks: the values do not depend on it.
func SetPhiloxSIMD(name string) error {
	level := slices.Index(philoxSIMDNames, name)
	if level < 0 {
		return fmt.Errorf("philox simd %q: want one of %s", name, strings.Join(philoxSIMDNames, ", "))
	}
	var v C.int
	return check("philox_simd", C.mz_philox_simd(C.int(level), &v))
}
