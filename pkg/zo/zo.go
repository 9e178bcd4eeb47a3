// Package zo is MeZO's zeroth-order step: SPSA with in-place perturbation,
// z regenerated from a seed and never stored (Malladi et al., 2023,
// Algorithm 1; MEZO_SPEC §4.2). It knows the model only through two small
// interfaces — parameters that can be perturbed and updated along z(seed),
// and a loss of the current batch — so it is tested with a pure-Go fake and
// runs over any model (ARCHITECTURE.md, rule 3).
package zo

import (
	"fmt"
	"math"
)

// Params is what a step needs of the trainable parameters, in the order z
// is drawn (named_parameters() order for the reference). torch.ParamList
// implements it.
type Params interface {
	// Perturb applies θ ← θ + (scale·z)·eps with z drawn from seed.
	Perturb(seed uint64, scale, eps float64) error
	// Update applies θ ← θ − lr·(g·z + wd·θ) with the same z.
	Update(seed uint64, g, lr, wd float64) error
}

// Loss evaluates the training objective on the current batch with the
// parameters as they are (a forward pass, dropout off). The value is float32,
// as the reference's 0-dim loss tensor is, so that the projected gradient
// rounds as the reference's does.
type Loss func() (float32, error)

// RestoreUpdater is implemented by parameters that can restore (+εz) and
// update with one z generation (torch.ParamList.RestoreUpdate).
type RestoreUpdater interface {
	RestoreUpdate(seed uint64, eps, g, lr, wd float64) error
}

// Config holds the hyper-parameters of a step.
type Config struct {
	Eps         float64 // ε, the perturbation scale (zero_order_eps)
	LR          float64 // η (learning_rate); constant in the reference's efficient path
	WeightDecay float64 // λ, applied to every trainable tensor (MEZO_SPEC §4.2)
	// SeparateRestore restores with its own +εz pass before the update
	// pass, the reference's +1/−2/+1 (and its rounding). Otherwise, when the
	// parameters implement RestoreUpdater, restore and update share one
	// pass: three z generations per step instead of four.
	SeparateRestore bool
	// ProjGrad, when set, replaces the measured projected gradient by the
	// value it returns (teacher forcing: replaying a recorded run with the
	// reference's own gradients).
	ProjGrad func(measured float32) float32
}

// Validate reports a configuration no step can run with.
func (c Config) Validate() error {
	if !(c.Eps > 0) || math.IsInf(c.Eps, 0) {
		return fmt.Errorf("zo: eps must be a positive number, got %v", c.Eps)
	}
	if math.IsNaN(c.LR) || math.IsInf(c.LR, 0) || c.LR < 0 {
		return fmt.Errorf("zo: learning rate must be a finite number ≥ 0, got %v", c.LR)
	}
	if math.IsNaN(c.WeightDecay) || math.IsInf(c.WeightDecay, 0) || c.WeightDecay < 0 {
		return fmt.Errorf("zo: weight decay must be a finite number ≥ 0, got %v", c.WeightDecay)
	}
	return nil
}

// Result is what one step measured.
type Result struct {
	Seed      uint64
	LossPlus  float32 // ℓ(θ + εz), what the reference logs as the step's loss
	LossMinus float32 // ℓ(θ − εz)
	ProjGrad  float32 // (ℓ+ − ℓ−) / 2ε
}

// NonFiniteError reports a loss or projected gradient that is NaN or
// infinite; the parameters have been restored to θ (up to rounding) and not
// updated.
type NonFiniteError struct {
	What  string
	Value float32
	Seed  uint64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("zo: %s is %v (step seed %d); parameters restored, no update made", e.What, e.Value, e.Seed)
}

// Step runs one efficient MeZO step with z drawn from seed:
//
//	θ += εz; ℓ+ = loss(); θ −= 2εz; ℓ− = loss(); θ += εz
//	g = (ℓ+ − ℓ−)/(2ε) in float32;  θ ← θ − η·(g·z + λ·θ)
//
// With c.SeparateRestore this is exactly the reference's order of
// operations (the restore is not exact in floating point, and the reference
// does not make it so either); otherwise the last two passes are one. A
// non-finite loss or gradient restores θ and returns a *NonFiniteError. On
// any other error the parameters may be left perturbed.
func Step(p Params, loss Loss, seed uint64, c Config) (Result, error) {
	r := Result{Seed: seed}
	if err := c.Validate(); err != nil {
		return r, err
	}
	var err error
	if err = p.Perturb(seed, 1, c.Eps); err != nil {
		return r, err
	}
	if r.LossPlus, err = loss(); err != nil {
		return r, err
	}
	if err = p.Perturb(seed, -2, c.Eps); err != nil {
		return r, err
	}
	if r.LossMinus, err = loss(); err != nil {
		return r, err
	}
	// float32 arithmetic, as the reference's 0-dim tensors: fl(fl(ℓ+ − ℓ−) / fl(2ε)).
	r.ProjGrad = (r.LossPlus - r.LossMinus) / float32(2*c.Eps)
	if c.ProjGrad != nil {
		r.ProjGrad = c.ProjGrad(r.ProjGrad)
	}
	for _, v := range []struct {
		what string
		x    float32
	}{{"loss at θ+εz", r.LossPlus}, {"loss at θ−εz", r.LossMinus}, {"projected gradient", r.ProjGrad}} {
		if f := float64(v.x); math.IsNaN(f) || math.IsInf(f, 0) {
			if err := p.Perturb(seed, 1, c.Eps); err != nil {
				return r, err
			}
			return r, &NonFiniteError{What: v.what, Value: v.x, Seed: seed}
		}
	}
	if ru, ok := p.(RestoreUpdater); ok && !c.SeparateRestore {
		return r, ru.RestoreUpdate(seed, c.Eps, float64(r.ProjGrad), c.LR, c.WeightDecay)
	}
	if err = p.Perturb(seed, 1, c.Eps); err != nil {
		return r, err
	}
	return r, p.Update(seed, float64(r.ProjGrad), c.LR, c.WeightDecay)
}
