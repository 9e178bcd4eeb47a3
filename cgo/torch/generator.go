package torch

/*
#include "mz.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Generator is a stateful libtorch random stream on one device: seeded like
// torch.manual_seed, advanced by every draw. It reproduces the reference's
// use of torch's global generator (DataLoader base seeds, dropout masks)
// where the default per-call seeding does not. Close frees it. Not safe for
// concurrent use.
type Generator struct {
	h C.mz_generator
}

// NewGenerator returns a generator for dev in the state torch.manual_seed(seed)
// leaves the device's default generator in.
func NewGenerator(dev Device, seed uint64) (*Generator, error) {
	dt, di := dev.c()
	var out C.mz_generator
	if err := check("generator_new", C.mz_generator_new(dt, di, C.uint64_t(seed), &out)); err != nil {
		return nil, err
	}
	return &Generator{h: out}, nil
}

// Random64 draws torch.empty((), dtype=torch.int64).random_() (two 32-bit
// outputs of the stream on the CPU).
func (g *Generator) Random64() (int64, error) {
	if g == nil || g.h == nil {
		return 0, ErrClosed
	}
	var v C.int64_t
	err := check("generator_random64", C.mz_generator_random64(g.h, &v))
	return int64(v), err
}

// Close frees the generator (idempotent).
func (g *Generator) Close() error {
	if g == nil || g.h == nil {
		return nil
	}
	h := g.h
	g.h = nil
	return check("generator_free", C.mz_generator_free(h))
}

// DropoutGen is training-mode dropout with its mask drawn from g, exactly as
// torch.nn.functional.dropout draws from the global generator.
func (s *Scope) DropoutGen(x *Tensor, p float64, g *Generator) *Tensor {
	if s.err == nil && (g == nil || g.h == nil) {
		s.err = ErrClosed
	}
	return s.op("dropout_gen", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_dropout_gen(m, x.h, C.double(p), g.h, o)
	}, x)
}

// Randperm draws torch.randperm(n, generator=g): a permutation of 0..n-1.
func (g *Generator) Randperm(n int) ([]int, error) {
	if g == nil || g.h == nil {
		return nil, ErrClosed
	}
	buf := make([]int64, n+1) // +1: a valid pointer for n = 0
	if err := check("generator_randperm", C.mz_generator_randperm(g.h, C.int64_t(n), (*C.int64_t)(unsafe.Pointer(&buf[0])))); err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := range out {
		out[i] = int(buf[i])
	}
	return out, nil
}

// State returns the generator's state (torch's get_state bytes).
func (g *Generator) State() ([]byte, error) {
	if g == nil || g.h == nil {
		return nil, ErrClosed
	}
	var n C.int64_t
	if err := check("generator_state", C.mz_generator_state(g.h, nil, 0, &n)); err != nil {
		return nil, err
	}
	buf := make([]byte, int(n)+1)
	if err := check("generator_state", C.mz_generator_state(g.h, (*C.uint8_t)(unsafe.Pointer(&buf[0])), n, &n)); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// SetState restores a state State returned.
func (g *Generator) SetState(st []byte) error {
	if g == nil || g.h == nil {
		return ErrClosed
	}
	if len(st) == 0 {
		return errors.New("torch: empty generator state")
	}
	return check("generator_set_state", C.mz_generator_set_state(g.h, (*C.uint8_t)(unsafe.Pointer(&st[0])), C.int64_t(len(st))))
}

// FillNormal draws t in place from g as t.normal_(mean, std, generator=g).
func (g *Generator) FillNormal(t *Tensor, mean, std float64) error {
	return g.fill(t, 0, mean, std)
}

// FillUniform draws t in place from g as t.uniform_(from, to, generator=g).
func (g *Generator) FillUniform(t *Tensor, from, to float64) error {
	return g.fill(t, 1, from, to)
}

func (g *Generator) fill(t *Tensor, kind int, a, b float64) error {
	if g == nil || g.h == nil {
		return ErrClosed
	}
	h, err := t.handle()
	if err != nil {
		return err
	}
	return check("generator_fill", C.mz_generator_fill(g.h, h, C.int(kind), C.double(a), C.double(b)))
}
