package torch

/*
#include "mz.h"
*/
import "C"

import "fmt"

// Scope runs ops under one grad mode and owns the tensors they return: Close
// frees them all, except those handed out with Keep.
//
// Memory is freed as a pass goes, not only at Close: Block runs one block of
// a computation (a transformer layer, its attention, its MLP) in a child
// scope and hands back only the block's output, so a forward pass holds about
// one block's activations at a time, as PyTorch eager does; Free releases a
// tensor early. Freeing a handle never breaks autograd: the graph holds its
// own references to what backward needs.
//
// Errors are sticky: the first failing op records its error, returns nil,
// and every later op of the scope returns nil without calling libtorch. Check
// Err once after a sequence of ops. A Scope is not safe for concurrent use.
type Scope struct {
	mode Mode
	// autocast is the reduced precision of the scope's CUDA ops (0: off).
	autocast DType
	owned    []*Tensor
	err      error
	parent   *Scope // set for the child scope of a Block
}

// NewScope returns a scope whose ops run under mode.
func NewScope(mode Mode) *Scope { return &Scope{mode: mode} }

// Mode is the grad mode of the scope's ops.
func (s *Scope) Mode() Mode { return s.mode }

// SetAutocast makes the scope's later ops (and its Blocks') run under
// libtorch's CUDA autocast in dt (BFloat16 or Float16; 0 turns it off):
// matmuls and linear layers compute in dt from fp32 inputs cast per op,
// reductions and normalisations stay fp32, so fp32 master weights are
// read, never replaced. Autocast is applied for the duration of each shim
// call, like the grad mode, never left in a thread's state. It acts on CUDA
// tensors only; CPU ops are unaffected.
func (s *Scope) SetAutocast(dt DType) error {
	if dt != 0 && dt != BFloat16 && dt != Float16 {
		return fmt.Errorf("torch: autocast in %s: want bfloat16 or float16", dt)
	}
	s.autocast = dt
	return nil
}

// Autocast is the scope's autocast precision (0: off).
func (s *Scope) Autocast() DType { return s.autocast }

// cmode is the mode argument of the scope's shim calls: the grad mode, and
// the autocast dtype's code above MZ_AUTOCAST_SHIFT.
func (s *Scope) cmode() C.int {
	return C.int(int(s.mode) | int(s.autocast)<<C.MZ_AUTOCAST_SHIFT)
}

// Err returns the first error of the scope's ops, or nil.
func (s *Scope) Err() error { return s.err }

// Fail records err (when it is the first) so the scope stops computing.
func (s *Scope) Fail(err error) {
	if s.err == nil && err != nil {
		s.err = err
	}
}

// Failf records a formatted error.
func (s *Scope) Failf(format string, args ...any) { s.Fail(fmt.Errorf(format, args...)) }

// Track adopts t: the scope frees it at Close. It returns t.
func (s *Scope) Track(t *Tensor) *Tensor {
	if t != nil {
		s.owned = append(s.owned, t)
	}
	return t
}

// Keep releases t from the scope so it outlives Close; the caller closes it.
// Keep(nil) returns nil.
func (s *Scope) Keep(t *Tensor) *Tensor {
	s.release(t)
	return t
}

// release removes t from the tensors s owns and reports whether s owned it.
// Recent tensors are searched first: a block's output is usually its last.
func (s *Scope) release(t *Tensor) bool {
	if t == nil {
		return false
	}
	for i := len(s.owned) - 1; i >= 0; i-- {
		if s.owned[i] == t {
			s.owned = append(s.owned[:i], s.owned[i+1:]...)
			return true
		}
	}
	return false
}

// Block runs f in a child scope of s (same grad mode; an error there is an
// error of s) and returns f's result, which moves to s; every other tensor
// f made is freed when f returns. A result f did not make (its input, a
// parameter) is returned as it is. Blocks nest. After an error Block returns
// nil without calling f.
func (s *Scope) Block(f func(b *Scope) *Tensor) *Tensor {
	if s.err != nil {
		return nil
	}
	b := &Scope{mode: s.mode, autocast: s.autocast, parent: s}
	out := f(b)
	if b.err == nil && b.release(out) {
		s.owned = append(s.owned, out)
	}
	if err := b.Close(); err != nil {
		s.Fail(err)
		return nil
	}
	return out
}

// Escape moves t from the child scope of a Block to its parent, so it
// outlives the block (an extra output, such as a layer's attention
// probabilities). In a scope that is not a block, or for a tensor the scope
// does not own, it does nothing. It returns t.
func (s *Scope) Escape(t *Tensor) *Tensor {
	if s.parent != nil && s.release(t) {
		s.parent.owned = append(s.parent.owned, t)
	}
	return t
}

// Free releases tensors the scope owns before Close: the last use of an
// intermediate. Tensors the scope does not own (parameters, inputs, nil) are
// left alone, so freeing one cannot close what another owner holds.
func (s *Scope) Free(ts ...*Tensor) {
	for _, t := range ts {
		if s.release(t) {
			s.Fail(t.Close())
		}
	}
}

// Len is the number of tensors the scope owns (for leak checks).
func (s *Scope) Len() int { return len(s.owned) }

// Close frees every tensor the scope owns and returns the first error (of
// the scope's ops, or of freeing).
func (s *Scope) Close() error {
	var first error
	for _, t := range s.owned {
		if err := t.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.owned = nil
	if s.err != nil {
		return s.err
	}
	return first
}

// op runs one shim op whose required inputs are ins. It returns nil after an
// error (recorded in the scope).
func (s *Scope) op(name string, f func(mode C.int, out *C.mz_tensor) C.mz_err, ins ...*Tensor) *Tensor {
	if s.err != nil {
		return nil
	}
	for i, in := range ins {
		if in == nil || in.h == nil {
			s.err = fmt.Errorf("torch: %s: input %d is nil or closed", name, i)
			return nil
		}
	}
	var out C.mz_tensor
	if err := check(name, f(s.cmode(), &out)); err != nil {
		s.err = err
		return nil
	}
	t := &Tensor{h: out}
	s.owned = append(s.owned, t)
	return t
}
