package nn

import "github.com/gomezo/gomezo/cgo/torch"

// Linear is y = x·Wᵀ + b with W [out, in] and b [out] (b may be nil). The
// tensors belong to the model's ParamSet.
type Linear struct {
	W, B *torch.Tensor
}

// Forward applies the layer to x [..., in] → [..., out].
func (l Linear) Forward(s *torch.Scope, x *torch.Tensor) *torch.Tensor { return s.Linear(x, l.W, l.B) }

// LayerNorm normalises the last dimension, then scales by W and shifts by B.
type LayerNorm struct {
	W, B *torch.Tensor
	Eps  float64
}

// Forward applies the layer norm.
func (l LayerNorm) Forward(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	return s.LayerNorm(x, l.W, l.B, l.Eps)
}

// Dropout draws dropout masks for one forward pass. With Gen set, every mask
// comes from that stateful generator in call order (the reference's global
// torch generator, for replaying the reference); otherwise mask i of the pass
// uses a seed mixed from (Seed, i), reproducible without shared state. A
// zero-value Dropout (P = 0) or one with Train false is the identity and
// draws nothing.
type Dropout struct {
	P     float64
	Train bool
	Seed  uint64
	Gen   *torch.Generator
	n     uint64
}

// Apply returns x with dropout applied in training mode, x itself otherwise.
func (d *Dropout) Apply(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	if d == nil || !d.Train || d.P == 0 {
		return x
	}
	if d.Gen != nil {
		return s.DropoutGen(x, d.P, d.Gen)
	}
	d.n++
	return s.Dropout(x, d.P, splitmix64(d.Seed+d.n*0x9e3779b97f4a7c15))
}

// splitmix64 is a fast, well-mixed hash of a 64-bit counter.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Module is a layer applied to one input: what a model's projection slots
// hold, so an adapter (pkg/peft's LoRA) can stand in for a Linear.
type Module interface {
	Forward(s *torch.Scope, x *torch.Tensor) *torch.Tensor
}
