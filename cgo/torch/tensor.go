package torch

/*
#include <stdlib.h>
#include "mz.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Tensor is a handle to a libtorch tensor. The handle owns one reference to
// the tensor; Close releases it (idempotent, nil-safe). A Tensor is not safe
// for concurrent Close; concurrent reads of distinct tensors are fine.
type Tensor struct {
	h C.mz_tensor
}

// Close releases the handle. Closing twice, or a nil *Tensor, is a no-op.
func (t *Tensor) Close() error {
	if t == nil || t.h == nil {
		return nil
	}
	h := t.h
	t.h = nil
	return check("tensor_free", C.mz_tensor_free(h))
}

// Closed reports whether the handle was released (or never set).
func (t *Tensor) Closed() bool { return t == nil || t.h == nil }

func (t *Tensor) handle() (C.mz_tensor, error) {
	if t == nil || t.h == nil {
		return nil, ErrClosed
	}
	return t.h, nil
}

// optHandle maps an absent optional tensor (nil) to a NULL handle.
func optHandle(t *Tensor) C.mz_tensor {
	if t == nil {
		return nil
	}
	return t.h
}

func newTensor(op string, f func(out *C.mz_tensor) C.mz_err) (*Tensor, error) {
	var out C.mz_tensor
	if err := check(op, f(&out)); err != nil {
		return nil, err
	}
	return &Tensor{h: out}, nil
}

// FromBytes makes a tensor of dtype and shape on dev from row-major,
// little-endian element bytes (copied; data is not retained).
func FromBytes(data []byte, dtype DType, shape []int64, dev Device) (*Tensor, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return fromPtr(p, len(data), dtype, shape, dev)
}

func fromPtr(p unsafe.Pointer, nbytes int, dtype DType, shape []int64, dev Device) (*Tensor, error) {
	sp, rank := int64s(shape)
	dt, di := dev.c()
	return newTensor("from_data", func(out *C.mz_tensor) C.mz_err {
		return C.mz_from_data(p, C.size_t(nbytes), sp, rank, C.int(dtype), dt, di, out)
	})
}

// FromFloat32s makes a float32 tensor of shape on dev from data (copied).
func FromFloat32s(data []float32, shape []int64, dev Device) (*Tensor, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return fromPtr(p, 4*len(data), Float32, shape, dev)
}

// FromFloat64s makes a float64 tensor of shape on dev from data (copied).
func FromFloat64s(data []float64, shape []int64, dev Device) (*Tensor, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return fromPtr(p, 8*len(data), Float64, shape, dev)
}

// FromInt64s makes an int64 tensor of shape on dev from data (copied).
func FromInt64s(data []int64, shape []int64, dev Device) (*Tensor, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return fromPtr(p, 8*len(data), Int64, shape, dev)
}

// Zeros makes a zero-filled tensor.
func Zeros(shape []int64, dtype DType, dev Device) (*Tensor, error) {
	sp, rank := int64s(shape)
	dt, di := dev.c()
	return newTensor("zeros", func(out *C.mz_tensor) C.mz_err {
		return C.mz_zeros(sp, rank, C.int(dtype), dt, di, out)
	})
}

// Ones makes a tensor of ones.
func Ones(shape []int64, dtype DType, dev Device) (*Tensor, error) {
	sp, rank := int64s(shape)
	dt, di := dev.c()
	return newTensor("ones", func(out *C.mz_tensor) C.mz_err {
		return C.mz_ones(sp, rank, C.int(dtype), dt, di, out)
	})
}

// Full makes a tensor filled with v.
func Full(shape []int64, v float64, dtype DType, dev Device) (*Tensor, error) {
	sp, rank := int64s(shape)
	dt, di := dev.c()
	return newTensor("full", func(out *C.mz_tensor) C.mz_err {
		return C.mz_full(sp, rank, C.double(v), C.int(dtype), dt, di, out)
	})
}

// Arange makes [0, 1, …, n-1].
func Arange(n int64, dtype DType, dev Device) (*Tensor, error) {
	dt, di := dev.c()
	return newTensor("arange", func(out *C.mz_tensor) C.mz_err {
		return C.mz_arange(C.int64_t(n), C.int(dtype), dt, di, out)
	})
}

// Randn draws N(0,1) values from a generator seeded with seed on dev (on the
// CPU: torch.manual_seed(seed); torch.randn(shape)).
func Randn(shape []int64, seed uint64, dtype DType, dev Device) (*Tensor, error) {
	sp, rank := int64s(shape)
	dt, di := dev.c()
	return newTensor("randn", func(out *C.mz_tensor) C.mz_err {
		return C.mz_randn(sp, rank, C.uint64_t(seed), C.int(dtype), dt, di, out)
	})
}

// Shape returns the sizes of t.
func (t *Tensor) Shape() ([]int64, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	var r C.int64_t
	if err := check("rank", C.mz_rank(h, &r)); err != nil {
		return nil, err
	}
	s := make([]int64, int(r))
	if r > 0 {
		if err := check("shape", C.mz_shape(h, (*C.int64_t)(unsafe.Pointer(&s[0])), r)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// DType returns t's element type.
func (t *Tensor) DType() (DType, error) {
	h, err := t.handle()
	if err != nil {
		return 0, err
	}
	var d C.int
	err = check("dtype", C.mz_dtype(h, &d))
	return DType(d), err
}

// Device returns where t lives.
func (t *Tensor) Device() (Device, error) {
	h, err := t.handle()
	if err != nil {
		return Device{}, err
	}
	var dt C.int
	var di C.int64_t
	if err := check("device", C.mz_device(h, &dt, &di)); err != nil {
		return Device{}, err
	}
	if dt == C.MZ_CUDA {
		return CUDA(int(di)), nil
	}
	return CPU, nil
}

// Numel returns the number of elements.
func (t *Tensor) Numel() (int64, error) {
	h, err := t.handle()
	if err != nil {
		return 0, err
	}
	var n C.int64_t
	err = check("numel", C.mz_numel(h, &n))
	return int64(n), err
}

// Bytes copies t's elements (in its own dtype, row-major) to host memory.
func (t *Tensor) Bytes() ([]byte, error) {
	dt, err := t.DType()
	if err != nil {
		return nil, err
	}
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, int(n)*dt.Size())
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	if err := check("to_data", C.mz_to_data(t.h, p, C.size_t(len(buf)))); err != nil {
		return nil, err
	}
	return buf, nil
}

func (t *Tensor) copyOut(want DType, p unsafe.Pointer, nbytes int) error {
	dt, err := t.DType()
	if err != nil {
		return err
	}
	if dt != want {
		return fmt.Errorf("torch: tensor is %v, not %v", dt, want)
	}
	return check("to_data", C.mz_to_data(t.h, p, C.size_t(nbytes)))
}

// Float32s copies a float32 tensor's elements to a new slice.
func (t *Tensor) Float32s() ([]float32, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	var p unsafe.Pointer
	if n > 0 {
		p = unsafe.Pointer(&out[0])
	}
	return out, t.copyOut(Float32, p, 4*int(n))
}

// Float64s copies a float64 tensor's elements to a new slice.
func (t *Tensor) Float64s() ([]float64, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	var p unsafe.Pointer
	if n > 0 {
		p = unsafe.Pointer(&out[0])
	}
	return out, t.copyOut(Float64, p, 8*int(n))
}

// Int64s copies an int64 tensor's elements to a new slice.
func (t *Tensor) Int64s() ([]int64, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	var p unsafe.Pointer
	if n > 0 {
		p = unsafe.Pointer(&out[0])
	}
	return out, t.copyOut(Int64, p, 8*int(n))
}

// Item returns the value of a one-element tensor as float64.
func (t *Tensor) Item() (float64, error) {
	h, err := t.handle()
	if err != nil {
		return 0, err
	}
	var v C.double
	err = check("item", C.mz_item_double(h, &v))
	return float64(v), err
}

// ItemInt returns the value of a one-element tensor as int64.
func (t *Tensor) ItemInt() (int64, error) {
	h, err := t.handle()
	if err != nil {
		return 0, err
	}
	var v C.int64_t
	err = check("item", C.mz_item_int64(h, &v))
	return int64(v), err
}

// Share returns a second handle to the same tensor (same storage and
// autograd identity). Both handles must be closed.
func (t *Tensor) Share() (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	return newTensor("shallow", func(out *C.mz_tensor) C.mz_err { return C.mz_shallow(h, out) })
}

// Clone returns a deep copy (no autograd history).
func (t *Tensor) Clone() (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	return newTensor("clone", func(out *C.mz_tensor) C.mz_err { return C.mz_clone(h, C.MZ_NO_GRAD, out) })
}

// Detach returns a handle sharing t's storage, outside autograd.
func (t *Tensor) Detach() (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	return newTensor("detach", func(out *C.mz_tensor) C.mz_err { return C.mz_detach(h, out) })
}

// To converts t to dtype on dev (a copy unless already there).
func (t *Tensor) To(dtype DType, dev Device) (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	dt, di := dev.c()
	return newTensor("to", func(out *C.mz_tensor) C.mz_err {
		return C.mz_to(h, C.int(dtype), dt, di, C.MZ_NO_GRAD, out)
	})
}

// CopyFrom copies src's values into t in place (shapes must broadcast;
// dtypes and devices may differ). No autograd history is recorded.
func (t *Tensor) CopyFrom(src *Tensor) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	s, err := src.handle()
	if err != nil {
		return err
	}
	return check("copy_", C.mz_copy_(h, s))
}

// SetRequiresGrad marks a leaf tensor as trainable by autograd.
func (t *Tensor) SetRequiresGrad(yes bool) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	v := C.int(0)
	if yes {
		v = 1
	}
	return check("set_requires_grad", C.mz_set_requires_grad(h, v))
}

// RequiresGrad reports whether autograd tracks t.
func (t *Tensor) RequiresGrad() (bool, error) {
	h, err := t.handle()
	if err != nil {
		return false, err
	}
	var y C.int
	err = check("requires_grad", C.mz_requires_grad(h, &y))
	return y != 0, err
}

// Grad returns a new handle to t's .grad, or nil when it has none. The
// caller closes it.
func (t *Tensor) Grad() (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	var out C.mz_tensor
	if err := check("grad", C.mz_grad(h, &out)); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, nil
	}
	return &Tensor{h: out}, nil
}

// Backward runs autograd from a scalar loss, accumulating into the .grad of
// the leaves that require grad.
func (t *Tensor) Backward() error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	return check("backward", C.mz_backward(h))
}

// Equal reports whether a and b have the same shape and identical values.
func Equal(a, b *Tensor) (bool, error) {
	ha, err := a.handle()
	if err != nil {
		return false, err
	}
	hb, err := b.handle()
	if err != nil {
		return false, err
	}
	var y C.int
	err = check("equal", C.mz_equal(ha, hb, &y))
	return y != 0, err
}

// MaxAbsDiff returns max |a − b| computed in float64.
func MaxAbsDiff(a, b *Tensor) (float64, error) {
	ha, err := a.handle()
	if err != nil {
		return 0, err
	}
	hb, err := b.handle()
	if err != nil {
		return 0, err
	}
	var v C.double
	err = check("max_abs_diff", C.mz_max_abs_diff(ha, hb, &v))
	return float64(v), err
}

// String is libtorch's printout of t (for debugging).
func (t *Tensor) String() string {
	h, err := t.handle()
	if err != nil {
		return "<closed tensor>"
	}
	var p *C.char
	if err := check("format", C.mz_format(h, &p)); err != nil {
		return "<" + err.Error() + ">"
	}
	defer C.mz_free(unsafe.Pointer(p))
	return C.GoString(p)
}
