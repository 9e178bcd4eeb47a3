package torch

/*
#include "mz.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Optimizer is one of the reference's optimizers over a parameter list:
// each Step is one shim call over every tensor, using the same libtorch calls
// in the same order as the reference's Python, so it rounds as they do. It
// holds its own references to the tensors and its state (AdamW moments);
// Close frees them. Not safe for concurrent use.
type Optimizer struct {
	h C.mz_optim
	n int // tensors
}

// AdamConfig holds transformers.AdamW's hyper-parameters.
type AdamConfig struct {
	Beta1, Beta2, Eps float64
	CorrectBias       bool // transformers' default: true
}

func checkDecay(p *ParamList, weightDecay []float64) (C.mz_params, *C.double, error) {
	h, err := p.handle()
	if err != nil {
		return nil, nil, err
	}
	if len(weightDecay) != p.n {
		return nil, nil, fmt.Errorf("torch: optimizer: %d weight decays for %d tensors", len(weightDecay), p.n)
	}
	var wd *C.double
	if len(weightDecay) > 0 {
		wd = (*C.double)(unsafe.Pointer(&weightDecay[0]))
	}
	return h, wd, nil
}

// NewSGD is torch.optim.SGD without momentum: p −= lr·(grad + wd·p), with
// one weight decay per tensor of p (the reference's two parameter groups).
func NewSGD(p *ParamList, weightDecay []float64) (*Optimizer, error) {
	h, wd, err := checkDecay(p, weightDecay)
	if err != nil {
		return nil, err
	}
	var out C.mz_optim
	if err := check("optim_sgd", C.mz_optim_sgd(h, wd, &out)); err != nil {
		return nil, err
	}
	return &Optimizer{h: out, n: p.n}, nil
}

// NewAdamWHF is transformers.AdamW (4.28) — not torch.optim.AdamW: eps is
// added to the raw sqrt(v), both bias corrections fold into the step size,
// and the decoupled decay p += (−lr·wd)·p comes after the Adam update.
func NewAdamWHF(p *ParamList, weightDecay []float64, c AdamConfig) (*Optimizer, error) {
	h, wd, err := checkDecay(p, weightDecay)
	if err != nil {
		return nil, err
	}
	cb := C.int(0)
	if c.CorrectBias {
		cb = 1
	}
	var out C.mz_optim
	if err := check("optim_adamw_hf", C.mz_optim_adamw_hf(h, wd, C.double(c.Beta1), C.double(c.Beta2), C.double(c.Eps), cb, &out)); err != nil {
		return nil, err
	}
	return &Optimizer{h: out, n: p.n}, nil
}

// Step updates every tensor that has a .grad at learning rate lr.
func (o *Optimizer) Step(lr float64) error {
	if o == nil || o.h == nil {
		return ErrClosed
	}
	return check("optim_step", C.mz_optim_step(o.h, C.double(lr)))
}

// Close frees the optimizer's references and state (idempotent).
func (o *Optimizer) Close() error {
	if o == nil || o.h == nil {
		return nil
	}
	h := o.h
	o.h = nil
	return check("optim_free", C.mz_optim_free(h))
}

// OptimizerState is an optimizer's state, for checkpoints: per-tensor step
// counts and AdamW's first and second moments (copies; the caller closes
// the lists). SGD's state is all zeros.
type OptimizerState struct {
	Steps            []int64
	ExpAvg, ExpAvgSq *ParamList
}

// Close frees the state's tensors.
func (s *OptimizerState) Close() error {
	if s == nil {
		return nil
	}
	return errors.Join(s.ExpAvg.Close(), s.ExpAvgSq.Close())
}

// State copies the optimizer's state out.
func (o *Optimizer) State() (*OptimizerState, error) {
	if o == nil || o.h == nil {
		return nil, ErrClosed
	}
	st := &OptimizerState{Steps: make([]int64, o.n+1)}
	var m, v C.mz_params
	if err := check("optim_state", C.mz_optim_state(o.h, (*C.int64_t)(unsafe.Pointer(&st.Steps[0])), &m, &v)); err != nil {
		return nil, err
	}
	st.Steps = st.Steps[:o.n]
	st.ExpAvg, st.ExpAvgSq = &ParamList{h: m, n: o.n}, &ParamList{h: v, n: o.n}
	return st, nil
}

// SetState restores a state State returned (from this optimizer or one
// over a list of the same shapes).
func (o *Optimizer) SetState(st *OptimizerState) error {
	if o == nil || o.h == nil {
		return ErrClosed
	}
	if st == nil {
		return errors.New("torch: nil optimizer state")
	}
	if len(st.Steps) != o.n {
		return fmt.Errorf("torch: optimizer state for %d tensors, want %d", len(st.Steps), o.n)
	}
	m, err := st.ExpAvg.handle()
	if err != nil {
		return err
	}
	v, err := st.ExpAvgSq.handle()
	if err != nil {
		return err
	}
	steps := append(st.Steps, 0) // a valid pointer for n = 0
	return check("optim_set_state", C.mz_optim_set_state(o.h, (*C.int64_t)(unsafe.Pointer(&steps[0])), m, v))
}

// OptimizerInfo is what an optimizer was built as, read back from the shim
// (libtorch's own optimizers from their parameter groups).
type OptimizerInfo struct {
	// Kind is sgd, sgd-momentum, adamw-hf (transformers.AdamW), torch-adam
	// or torch-adamw.
	Kind string
	// Adam's (zero for SGD).
	Beta1, Beta2, Eps float64
	CorrectBias       bool
	// SGD momentum (zero for Adam).
	Momentum, Dampening float64
	Nesterov            bool
	// WeightDecay is each tensor's weight decay, in list order.
	WeightDecay []float64
}

// Info reads back the optimizer's kind and hyper-parameters.
func (o *Optimizer) Info() (OptimizerInfo, error) {
	if o == nil || o.h == nil {
		return OptimizerInfo{}, ErrClosed
	}
	var kind C.int
	h := make([]float64, 8)
	wd := make([]float64, o.n+1) // a valid pointer for n = 0
	if err := check("optim_info", C.mz_optim_info(o.h, &kind, (*C.double)(unsafe.Pointer(&h[0])), (*C.double)(unsafe.Pointer(&wd[0])))); err != nil {
		return OptimizerInfo{}, err
	}
	names := []string{"sgd", "adamw-hf", "sgd-momentum", "torch-adam", "torch-adamw"}
	if int(kind) < 0 || int(kind) >= len(names) {
		return OptimizerInfo{}, fmt.Errorf("torch: optimizer of unknown kind %d", kind)
	}
	return OptimizerInfo{Kind: names[kind], Beta1: h[0], Beta2: h[1], Eps: h[2], CorrectBias: h[3] != 0,
		Momentum: h[4], Dampening: h[5], Nesterov: h[6] != 0, WeightDecay: wd[:o.n]}, nil
}
