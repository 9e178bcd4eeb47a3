// Package optim is the trainer-optimizer side of gomezo: the reference's
// parameter groups, learning-rate schedules, and the choice of optimizer
// (torch.optim.SGD or transformers.AdamW, both run by the shim as one pass
// over the parameters). The ZO estimate reaches them through the parameters'
// .grad (torch.ParamList.AccumulateGrad), as in the reference's
// --zero_order_use_trainer_optim path; fine-tuning reaches them through
// backprop.
package optim

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
)

// ReferenceWeightDecay gives each parameter the weight decay of its group in
// the reference's create_optimizer: names containing "bias" or
// "LayerNorm.weight" get 0, every other one wd. (RoBERTa's
// lm_head.layer_norm.weight does not match "LayerNorm.weight", so it is
// decayed, as in the reference.)
func ReferenceWeightDecay(names []string, wd float64) []float64 {
	out := make([]float64, len(names))
	for i, n := range names {
		if !strings.Contains(n, "bias") && !strings.Contains(n, "LayerNorm.weight") {
			out[i] = wd
		}
	}
	return out
}

// Kind names an optimizer.
type Kind string

const (
	SGD  Kind = "sgd"  // torch.optim.SGD, no momentum (the reference's --optimizer sgd) or, with Momentum, with it
	Adam Kind = "adam" // transformers.AdamW (the reference's --optimizer adam)
	// TorchAdam and TorchAdamW are libtorch's own torch::optim::Adam and
	// torch::optim::AdamW.
	TorchAdam  Kind = "torch-adam"
	TorchAdamW Kind = "torch-adamw"
)

// Config chooses and configures an optimizer.
type Config struct {
	Kind        Kind
	WeightDecay float64
	Beta1       float64 // default 0.9
	Beta2       float64 // default 0.999
	Eps         float64 // default 1e-8
	// SGD momentum (torch.optim.SGD's momentum, dampening, nesterov); 0 is
	// plain SGD.
	Momentum, Dampening float64
	Nesterov            bool
}

// New builds the optimizer over the trainable parameters list (names in the
// same order, for the weight-decay groups). The caller closes it.
func New(list *torch.ParamList, names []string, c Config) (*torch.Optimizer, error) {
	if len(names) != list.Len() {
		return nil, fmt.Errorf("optim: %d names for %d parameters", len(names), list.Len())
	}
	if math.IsNaN(c.WeightDecay) || c.WeightDecay < 0 {
		return nil, fmt.Errorf("optim: weight decay must be ≥ 0, got %v", c.WeightDecay)
	}
	wd := ReferenceWeightDecay(names, c.WeightDecay)
	if c.Kind != SGD && (c.Momentum != 0 || c.Dampening != 0 || c.Nesterov) {
		return nil, fmt.Errorf("optim: momentum is sgd's, not %s's", c.Kind)
	}
	ac := torch.AdamConfig{Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, CorrectBias: true}
	if ac.Beta1 == 0 && ac.Beta2 == 0 && ac.Eps == 0 {
		ac.Beta1, ac.Beta2, ac.Eps = 0.9, 0.999, 1e-8
	}
	switch c.Kind {
	case SGD:
		if c.Momentum != 0 || c.Dampening != 0 || c.Nesterov {
			return torch.NewSGDMomentum(list, wd, c.Momentum, c.Dampening, c.Nesterov)
		}
		return torch.NewSGD(list, wd)
	case Adam:
		return torch.NewAdamWHF(list, wd, ac)
	case TorchAdam, TorchAdamW:
		return torch.NewTorchAdam(list, wd, ac, c.Kind == TorchAdamW)
	}
	return nil, fmt.Errorf("optim: unknown optimizer %q (want %s, %s, %s or %s)", c.Kind, SGD, Adam, TorchAdam, TorchAdamW)
}
