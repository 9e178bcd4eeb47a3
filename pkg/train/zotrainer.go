package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/optim"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/zo"
)

// StepEnv is what a method that makes its own per-sample draws needs of the
// loop for one step.
type StepEnv struct {
	// Seed draws the next step seed from the run's seed stream (one per
	// efficient sample, as the reference draws n_t per step).
	Seed func() uint64
	// Global is torch's global generator of the run: the stored-z path
	// draws z from it, continuing across tensors, samples and steps.
	Global *torch.Generator
	// EpochStart reports that b is the first batch of an epoch (d_c is
	// recomputed there with recompute_norms).
	EpochStart bool
	// Fresh returns a fresh random batch for a sample after the first,
	// drawn deterministically from that sample's seed
	// (fresh_batch_per_sample); nil shares the step's batch.
	Fresh func(seed uint64) (*batch.Batch, error)
}

// SampleStepper is a Method that draws its own seeds and z: the loop calls
// StepSamples instead of Step.
type SampleStepper interface {
	Method
	StepSamples(b *batch.Batch, env StepEnv, k int) (StepRecord, error)
}

// SampleRecord is one ±εz pair of an n-SPSA step.
type SampleRecord struct {
	Seed                uint64 // 0 on the stored-z path
	LossPlus, LossMinus float32
	// ProjGrad is the scaled estimate as it enters the gradient:
	// (ℓ+ − ℓ−)/2ε, divided by the accumulation steps (when > 1), then by
	// n_t unless scale_lr_with_samples.
	ProjGrad float32
}

// SampleSchedule gives n_t, the samples of step k (0-based), as the
// reference's get_num_samples: none → 1, constant → N, linear →
// max(1, int(k / max_steps · N)) in float64 (it never reaches N).
type SampleSchedule struct {
	Kind     recipe.SampleSchedule
	N        int
	MaxSteps int
}

// At returns n_t of step k.
func (s SampleSchedule) At(k int) int {
	switch s.Kind {
	case recipe.SamplesConstant:
		return max(1, s.N)
	case recipe.SamplesLinear:
		if s.MaxSteps <= 0 {
			return 1
		}
		return max(1, int(float64(k)/float64(s.MaxSteps)*float64(s.N)))
	}
	return 1
}

// ZOTrainer is the reference's ZO step beyond the plain efficient one
// (MEZO_SPEC §4.3–4.6): n_t samples per step (efficient: seeds from the
// run's stream; stored: z from the global generator, kept for the sample),
// each a ±εz pair on the step's batch, the estimate accumulated into the
// gradients (trainer optimizer: clipping, Opt at the schedule's rate,
// zero_grad) or applied inline (stored-z without a trainer optimizer: the
// reference's θ − lr·(g·z + wd·θ)). Variant, when set, scales z per group.
// Memory: with Opt, one .grad per trainable tensor (about twice inference)
// plus the optimizer's state; the stored path keeps one z copy per sample.
type ZOTrainer struct {
	Params *torch.ParamList
	Loss   func(b *batch.Batch) (float32, error)
	Eps    float64
	// Stored draws z from the global generator and keeps it (efficient:
	// false); otherwise z is regenerated from each sample's seed.
	Stored bool
	// Opt is the trainer optimizer and Sched its schedule; nil Opt updates
	// inline at LR with WeightDecay on every tensor (stored path only).
	Opt             *torch.Optimizer
	Sched           optim.Schedule
	LR, WeightDecay float64
	Samples         SampleSchedule
	// ScaleLRWithSamples sums the n_t estimates instead of averaging.
	ScaleLRWithSamples bool
	// ClipNorm clips the estimate's norm before the step (0: off).
	ClipNorm float64
	Variant  *Variant
	Teacher  *Teacher
	next     int // the next step's index, for ForwardsPerStep
}

// ForwardsPerStep is 2·n_t of the next step (the d_c estimates of
// use_zo_grad_est are counted in the step's record).
func (t *ZOTrainer) ForwardsPerStep() int { return 2 * t.Samples.At(t.next) }

// Close frees the optimizer.
func (t *ZOTrainer) Close() error {
	var errs []error
	if t.Variant != nil {
		errs = append(errs, t.Variant.Close())
	}
	if t.Opt != nil {
		errs = append(errs, t.Opt.Close())
	}
	return errors.Join(errs...)
}

// Step is StepSamples without a loop environment: it cannot draw seeds or
// z, so it fails.
func (t *ZOTrainer) Step(*batch.Batch, uint64, int) (StepRecord, error) {
	return StepRecord{}, errors.New("train: the trainer-optimizer ZO step needs the loop's streams (StepSamples)")
}

// optimizer is the state a checkpoint keeps.
func (t *ZOTrainer) optimizer() *torch.Optimizer { return t.Opt }

// StepSamples runs update k on b: Accumulate, then ApplyUpdate.
func (t *ZOTrainer) StepSamples(b *batch.Batch, env StepEnv, k int) (StepRecord, error) {
	rec, err := t.Accumulate(b, env, k, 1)
	if err != nil {
		return rec, err
	}
	return rec, t.ApplyUpdate(&rec, k)
}

// Accumulate runs one micro-batch of update k: d_c when due, then n_t
// samples, each estimate divided by steps when steps > 1 (gradient
// accumulation, before the division by n_t, as the reference) and added to
// the gradients. Without a trainer optimizer (the inline update) steps must
// be 1.
func (t *ZOTrainer) Accumulate(b *batch.Batch, env StepEnv, k, steps int) (StepRecord, error) {
	t.next = k + 1
	rec := StepRecord{}
	if steps > 1 && t.Opt == nil {
		return rec, errors.New("train: gradient accumulation needs the trainer optimizer (method.trainer_optim)")
	}
	if t.Variant != nil {
		fw, dc, err := t.Variant.maybeInit(t, b, env, k)
		if err != nil {
			return rec, err
		}
		rec.StepForwards += fw
		rec.DC = dc
	}
	nt := t.Samples.At(k)
	rec.NT = nt
	for j := 0; j < nt; j++ {
		sb := b
		var seed uint64
		if !t.Stored {
			seed = env.Seed()
		}
		if j > 0 && env.Fresh != nil {
			fs := seed
			if t.Stored {
				fs = uint64(k)*1000003 + uint64(j)
			}
			var err error
			if sb, err = env.Fresh(fs); err != nil {
				return rec, err
			}
		}
		sr, err := t.sample(sb, env, seed, nt, steps, k, j)
		rec.Samples = append(rec.Samples, sr)
		rec.StepForwards += 2
		if err != nil {
			return rec, err
		}
	}
	last := rec.Samples[len(rec.Samples)-1]
	rec.Seed, rec.LossPlus, rec.LossMinus, rec.ProjGrad = last.Seed, last.LossPlus, last.LossMinus, last.ProjGrad
	rec.LR = t.LR
	return rec, nil
}

// ApplyUpdate takes update k from the gradients accumulated: clipping, the
// logged norm into rec.GradNorm, the optimizer step at the schedule's rate
// (into rec.LR), zero_grad. Without a trainer optimizer the samples already
// updated the parameters inline.
func (t *ZOTrainer) ApplyUpdate(rec *StepRecord, k int) error {
	if t.Opt == nil {
		rec.LR = t.LR
		return nil
	}
	var err error
	if t.ClipNorm > 0 {
		if _, err = t.Params.ClipGradNorm(t.ClipNorm); err != nil {
			return err
		}
	}
	if rec.GradNorm, err = gradNorm(t.Params); err != nil {
		return err
	}
	rec.LR = t.Sched.LR(k)
	if err := t.Opt.Step(rec.LR); err != nil {
		return err
	}
	return t.Params.ZeroGrad(false)
}

// gradNorm is the reference's logged grad_norm: √(Σ torch.sum(grad²)) in
// float32, summed in tensor order from 0.
func gradNorm(p *torch.ParamList) (float64, error) {
	sums, ok, err := p.SumSq(true)
	if err != nil {
		return 0, err
	}
	var acc float32
	for i, v := range sums {
		if ok[i] {
			acc += v
		}
	}
	return float64(float32(math.Sqrt(float64(acc)))), nil
}

// sample runs sample j of step k: perturb +ε, ℓ+, −2ε, ℓ−, the estimate
// divided by the accumulation steps ga (when > 1) and by nt, into the
// gradients (or the inline update), restore.
func (t *ZOTrainer) sample(b *batch.Batch, env StepEnv, seed uint64, nt, ga, k, j int) (SampleRecord, error) {
	sr := SampleRecord{Seed: seed}
	var z, zp, zg *torch.ParamList // stored z, its perturbation and gradient forms
	defer func() {
		if zg != z && zg != zp {
			zg.Close()
		}
		if zp != z {
			zp.Close()
		}
		z.Close()
	}()
	perturb := func(sc float64) error { return t.Params.Perturb(seed, sc, t.Eps) }
	if t.Stored {
		var err error
		if z, err = t.Params.DrawNormal(env.Global); err != nil {
			return sr, err
		}
		zp, zg = z, z
		if t.Variant != nil {
			if zp, err = z.ScaleStored(t.Variant.scales(), true); err != nil {
				return sr, err
			}
			if t.Variant.gradUsesC(t.Opt != nil) {
				if zg, err = z.ScaleStored(t.Variant.scales(), false); err != nil {
					return sr, err
				}
			}
		}
		perturb = func(sc float64) error { return t.Params.PerturbStored(zp, sc, t.Eps) }
	}
	var err error
	if err = perturb(1); err != nil {
		return sr, err
	}
	if sr.LossPlus, err = t.Loss(b); err != nil {
		return sr, err
	}
	if err = perturb(-2); err != nil {
		return sr, err
	}
	if sr.LossMinus, err = t.Loss(b); err != nil {
		return sr, err
	}
	if t.Teacher != nil && t.Teacher.SampleLosses != nil {
		if p, m, ok := t.Teacher.SampleLosses(k, j, sr.LossPlus, sr.LossMinus); ok {
			sr.LossPlus, sr.LossMinus = p, m
		}
	}
	// float32, as the reference's 0-dim tensors.
	g := (sr.LossPlus - sr.LossMinus) / float32(2*t.Eps)
	if ga > 1 {
		g /= float32(ga)
	}
	if !t.ScaleLRWithSamples {
		g /= float32(nt)
	}
	sr.ProjGrad = g
	if f := float64(g); math.IsNaN(f) || math.IsInf(f, 0) {
		if err := perturb(1); err != nil {
			return sr, err
		}
		return sr, &zo.NonFiniteError{What: "projected gradient", Value: g, Seed: seed}
	}
	if t.Opt == nil {
		// The reference's inline stored-z update: restore, then
		// θ − lr·(g·z + wd·θ).
		if err := perturb(1); err != nil {
			return sr, err
		}
		return sr, t.Params.UpdateStored(zg, float64(g), t.LR, t.WeightDecay)
	}
	if t.Stored {
		err = t.Params.AccumulateGradStored(zg, float64(g))
	} else {
		err = t.Params.AccumulateGrad(seed, float64(g))
	}
	if err != nil {
		return sr, err
	}
	return sr, perturb(1)
}

// OptimConfig is the optimizer a recipe asks for.
func OptimConfig(o recipe.Optim) optim.Config {
	kind := optim.Adam
	switch o.Name {
	case recipe.SGD:
		kind = optim.SGD
	case recipe.TorchAdam:
		kind = optim.TorchAdam
	case recipe.TorchAdamW:
		kind = optim.TorchAdamW
	}
	return optim.Config{Kind: kind, WeightDecay: o.WeightDecay, Beta1: o.AdamBeta1, Beta2: o.AdamBeta2, Eps: o.AdamEpsilon,
		Momentum: o.Momentum, Dampening: o.Dampening, Nesterov: o.Nesterov}
}

// NewSchedule is the recipe's learning-rate schedule over totalSteps.
func NewSchedule(o recipe.Optim, totalSteps int) (optim.Schedule, error) {
	warm := o.WarmupSteps
	if warm == 0 && o.WarmupRatio > 0 {
		warm = int(math.Ceil(o.WarmupRatio * float64(totalSteps)))
	}
	sched, err := optim.NewSchedule(string(o.Schedule), o.LR, warm, totalSteps)
	if err != nil {
		return nil, fmt.Errorf("optim.schedule: %w", err)
	}
	return sched, nil
}

// needsZOTrainer reports whether a MeZO recipe needs ZOTrainer rather than
// the plain efficient step.
func needsZOTrainer(m recipe.Method) bool {
	return m.TrainerOptim || !m.Efficient || m.ZOVariant == recipe.VariantGradNorm || m.ZOVariant == recipe.VariantParamNorm
}

// NewZOTrainer builds the ZO method of a recipe that needs more than the
// plain efficient step: the optimizer and schedule (trainer_optim), the
// sample schedule over totalSteps, the variant's groups.
func NewZOTrainer(s *Session, totalSteps int, teacher *Teacher) (*ZOTrainer, error) {
	r := s.Recipe
	me, o := r.Method, r.Optim
	t := &ZOTrainer{Params: s.Params, Loss: s.Net.Loss, Eps: me.Eps, Stored: !me.Efficient,
		LR: o.LR, WeightDecay: o.WeightDecay, ScaleLRWithSamples: me.ScaleLRWithSamples, Teacher: teacher,
		Samples: SampleSchedule{Kind: me.SampleSchedule, N: me.Samples, MaxSteps: totalSteps}}
	if me.ClipGrad {
		t.ClipNorm = o.MaxGradNorm
	}
	if me.TrainerOptim {
		var err error
		if t.Sched, err = NewSchedule(o, totalSteps); err != nil {
			return nil, err
		}
		if t.Opt, err = optim.New(s.Params, s.Names, OptimConfig(o)); err != nil {
			return nil, fmt.Errorf("optim.name: %w", err)
		}
	}
	if me.ZOVariant == recipe.VariantGradNorm || me.ZOVariant == recipe.VariantParamNorm {
		v, err := NewVariant(s, me, r.Quirks().InconsistentVariants)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.Variant = v
	}
	return t, nil
}
