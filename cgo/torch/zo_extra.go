package torch

/*
#include "mz.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ScaleStored returns a new list z' with z'_i = z_i / c[i] (divide) or
// z_i · c[i], rounded as torch's tensor-by-float operators are; c[i] = 1
// shares z_i itself. The caller closes z'.
func (p *ParamList) ScaleStored(c []float64, divide bool) (*ParamList, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	if len(c) != p.n {
		return nil, fmt.Errorf("torch: scale_stored: %d scales for %d tensors", len(c), p.n)
	}
	cc := append([]float64(nil), c...)
	cc = append(cc, 1) // a valid pointer for n = 0
	d := C.int(0)
	if divide {
		d = 1
	}
	var out C.mz_params
	if err := check("params_scale_stored", C.mz_params_scale_stored(h, (*C.double)(unsafe.Pointer(&cc[0])), d, &out)); err != nil {
		return nil, err
	}
	return &ParamList{h: out, n: p.n}, nil
}

// AccumulateGradStored is AccumulateGrad with a stored z: p.grad ← g·z, or
// p.grad += g·z once it exists.
func (p *ParamList) AccumulateGradStored(z *ParamList, g float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	zh, err := z.handle()
	if err != nil {
		return err
	}
	return check("params_accumulate_grad_stored", C.mz_params_accumulate_grad_stored(h, zh, C.double(g)))
}

// SumSq is torch.sum(t**2) of every tensor (of its .grad when ofGrad), in
// the tensor's own precision; ok[i] is false for a tensor without a .grad.
func (p *ParamList) SumSq(ofGrad bool) (sums []float32, ok []bool, err error) {
	h, err := p.handle()
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, p.n+1)
	def := make([]C.int, p.n+1)
	g := C.int(0)
	if ofGrad {
		g = 1
	}
	if err := check("params_sumsq", C.mz_params_sumsq(h, g, (*C.float)(unsafe.Pointer(&out[0])), &def[0])); err != nil {
		return nil, nil, err
	}
	ok = make([]bool, p.n)
	for i := range ok {
		ok[i] = def[i] != 0
	}
	return out[:p.n], ok, nil
}

// NewSGDMomentum is torch.optim.SGD with momentum m, dampening and
// optionally Nesterov: the README's "ZO-Momentum", which the reference never
// built. Its momentum buffers are the state's ExpAvg.
func NewSGDMomentum(p *ParamList, weightDecay []float64, momentum, dampening float64, nesterov bool) (*Optimizer, error) {
	h, wd, err := checkDecay(p, weightDecay)
	if err != nil {
		return nil, err
	}
	n := C.int(0)
	if nesterov {
		n = 1
	}
	var out C.mz_optim
	if err := check("optim_sgd_momentum", C.mz_optim_sgd_momentum(h, wd, C.double(momentum), C.double(dampening), n, &out)); err != nil {
		return nil, err
	}
	return &Optimizer{h: out, n: p.n}, nil
}

// NewTorchAdam is libtorch's own torch::optim::Adam (coupled L2 weight
// decay) or, decoupled, torch::optim::AdamW, with one parameter group per
// distinct weight decay. The state's Steps, ExpAvg and ExpAvgSq are
// libtorch's.
func NewTorchAdam(p *ParamList, weightDecay []float64, c AdamConfig, decoupled bool) (*Optimizer, error) {
	h, wd, err := checkDecay(p, weightDecay)
	if err != nil {
		return nil, err
	}
	d := C.int(0)
	if decoupled {
		d = 1
	}
	var out C.mz_optim
	if err := check("optim_torch_adam", C.mz_optim_torch_adam(h, wd, C.double(c.Beta1), C.double(c.Beta2), C.double(c.Eps), 0, d, &out)); err != nil {
		return nil, err
	}
	return &Optimizer{h: out, n: p.n}, nil
}
