// Package torch is gomezo's Go binding of libtorch, through the C shim in
// cgo/shim (libmzshim.so). It is the only package of the project that
// imports "C".
//
// Memory: every *Tensor owns one reference to a libtorch tensor and must be
// freed with Close (or by the Scope that made it). There are no finalizers:
// tensor memory is released exactly when the code says so.
//
// Errors: every shim call returns an error value; nothing here panics on a
// libtorch failure. Ops are methods of a Scope, which records the first
// error and turns later ops into no-ops (see Scope), so a forward pass is
// written straight and checked once.
//
// Threads: libtorch keeps grad mode, inference mode and the current CUDA
// device in thread-local state, and goroutines migrate between OS threads.
// This package never relies on that state: every computing call passes its
// grad mode to the shim, which applies it for the duration of that call;
// tensors carry their device, and ops run on their inputs' device.
package torch

/*
#cgo CFLAGS: -I${SRCDIR}/../shim
#cgo LDFLAGS: -L${SRCDIR}/../../build/lib -lmzshim -Wl,-rpath,${SRCDIR}/../../build/lib
#include <stdlib.h>
#include "mz.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// Error is an error reported by libtorch (through the shim).
type Error struct {
	Op  string // the shim function
	Msg string // libtorch's message, without the C++ backtrace
}

func (e *Error) Error() string { return "torch: " + e.Op + ": " + e.Msg }

// check converts a shim error (a malloc'd string, or NULL) into an error and
// frees it.
func check(op string, e C.mz_err) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.mz_free(unsafe.Pointer(e))
	return &Error{Op: op, Msg: strings.TrimSpace(msg)}
}

// DType is a tensor element type (values of c10::ScalarType).
type DType int

const (
	Uint8    DType = C.MZ_U8
	Int8     DType = C.MZ_I8
	Int16    DType = C.MZ_I16
	Int32    DType = C.MZ_I32
	Int64    DType = C.MZ_I64
	Float16  DType = C.MZ_F16
	Float32  DType = C.MZ_F32
	Float64  DType = C.MZ_F64
	Bool     DType = C.MZ_BOOL
	BFloat16 DType = C.MZ_BF16
)

var dtypeNames = map[DType]string{
	Uint8: "uint8", Int8: "int8", Int16: "int16", Int32: "int32", Int64: "int64",
	Float16: "float16", Float32: "float32", Float64: "float64", Bool: "bool", BFloat16: "bfloat16",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

// Size is the size of one element in bytes.
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Int16, Float16, BFloat16:
		return 2
	case Int32, Float32:
		return 4
	case Int64, Float64:
		return 8
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float16 || d == Float32 || d == Float64 || d == BFloat16
}

// ParseDType accepts "float32"/"f32"/"fp32", "float64"/"f64", "float16"/"f16"/"fp16",
// "bfloat16"/"bf16", "int64"/"i64" and the other names String prints.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "float32", "f32", "fp32", "float":
		return Float32, nil
	case "float64", "f64", "fp64", "double":
		return Float64, nil
	case "float16", "f16", "fp16", "half":
		return Float16, nil
	case "bfloat16", "bf16":
		return BFloat16, nil
	case "int64", "i64", "long":
		return Int64, nil
	case "int32", "i32", "int":
		return Int32, nil
	case "uint8", "u8":
		return Uint8, nil
	case "bool":
		return Bool, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want float32, float64, float16, bfloat16, int64, int32, uint8 or bool)", s)
}

// Device is where a tensor lives: the CPU, or a CUDA device by index.
type Device struct {
	CUDA  bool
	Index int // CUDA device index; ignored for the CPU
}

// CPU is the host device.
var CPU = Device{}

// CUDA returns CUDA device i.
func CUDA(i int) Device { return Device{CUDA: true, Index: i} }

func (d Device) String() string {
	if d.CUDA {
		return "cuda:" + strconv.Itoa(d.Index)
	}
	return "cpu"
}

func (d Device) c() (C.int, C.int64_t) {
	if d.CUDA {
		return C.MZ_CUDA, C.int64_t(d.Index)
	}
	return C.MZ_CPU, -1
}

// ParseDevice accepts "cpu", "cuda" (device 0) and "cuda:N".
func ParseDevice(s string) (Device, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "cpu":
		return CPU, nil
	case s == "cuda":
		return CUDA(0), nil
	case strings.HasPrefix(s, "cuda:"):
		i, err := strconv.Atoi(s[5:])
		if err != nil || i < 0 {
			return Device{}, fmt.Errorf("bad device %q: want cuda:N with N ≥ 0", s)
		}
		return CUDA(i), nil
	}
	return Device{}, fmt.Errorf("unknown device %q (want cpu, cuda or cuda:N)", s)
}

// Mode is the autograd mode a computation runs under.
type Mode int

const (
	// NoGrad records no graph (torch.no_grad).
	NoGrad Mode = C.MZ_NO_GRAD
	// Grad records the graph for backward.
	Grad Mode = C.MZ_GRAD
	// Inference is torch.inference_mode: no graph, no version counters; its
	// outputs must never be used where a graph is recorded.
	Inference Mode = C.MZ_INFERENCE
)

// ErrClosed is returned for operations on a closed tensor or list.
var ErrClosed = errors.New("torch: use of a closed tensor")

func int64s(shape []int64) (*C.int64_t, C.int64_t) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0])), C.int64_t(len(shape))
}
