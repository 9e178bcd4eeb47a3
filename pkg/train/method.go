package train

import (
	"errors"
	"math"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/optim"
	"github.com/gomezo/gomezo/pkg/probe"
	"github.com/gomezo/gomezo/pkg/zo"
)

// StepRecord is what one update measured.
type StepRecord struct {
	Step  int     // 1-based update index
	Epoch int     // 0-based epoch
	Batch []int   // example indices of the batch (rows of the train file)
	Seed  uint64  // MeZO's step seed
	LR    float64 // learning rate of this update
	// MeZO: the two losses and the projected gradient.
	LossPlus, LossMinus, ProjGrad float32
	// FT: the training loss and the gradient norm before clipping.
	Loss     float32
	GradNorm float64
	// Forwards is the cumulative count of MeZO forward passes after it.
	Forwards int
	// The trainer-optimizer ZO path (ZOTrainer): n_t, every sample, the
	// forwards this step counted (2·n_t plus d_c estimates; 0 means
	// ForwardsPerStep), and d_c per variant group when it was computed at
	// this step. GradNorm is then the estimate's norm as the reference logs it.
	NT           int
	Samples      []SampleRecord
	StepForwards int
	DC           []float32
}

// Method takes one update on a batch: the small interface the loop drives
// (MeZO and fine-tuning implement it).
type Method interface {
	// Step updates the parameters from b. seed is the step's seed from the
	// run's seed stream (MeZO's z); k is the 0-based update index.
	Step(b *batch.Batch, seed uint64, k int) (StepRecord, error)
	// ForwardsPerStep is how many forward passes a step counts (MeZO's
	// budget); 0 for methods outside that budget.
	ForwardsPerStep() int
	Close() error
}

// Accumulator is a Method whose update can be split over micro-batches
// (optim.gradient_accumulation_steps, MEZO_SPEC §4.4, §5): the loop calls
// Accumulate once per micro-batch of update k, each adding its gradient
// divided by steps, then ApplyUpdate once at the window's end. Fine-tuning
// and the trainer-optimizer ZO path implement it; Step is Accumulate with
// steps 1 followed by ApplyUpdate.
type Accumulator interface {
	Method
	Accumulate(b *batch.Batch, env StepEnv, k, steps int) (StepRecord, error)
	ApplyUpdate(rec *StepRecord, k int) error
}

// Teacher forces recorded values into a run (replaying a reference run):
// each function reports the value for 0-based update k, or false to keep
// the run's own.
type Teacher struct {
	Seed     func(k int) (uint64, bool)
	ProjGrad func(k int) (float32, bool)
	// SampleLosses replaces the measured ℓ+ and ℓ− of sample j of update k
	// (ZOTrainer); the projected gradient and its scaling are then computed
	// from them as from measured losses.
	// measured are the losses the forwards gave.
	SampleLosses func(k, j int, measuredPlus, measuredMinus float32) (plus, minus float32, ok bool)
	// Probe replaces the linear probe the run fitted (own) before it is
	// written into the head.
	Probe func(own *probe.Fit) (*probe.Fit, bool)
}

// MeZO is the efficient MeZO step (zo.Step) with a constant learning rate.
type MeZO struct {
	Params  *torch.ParamList
	Loss    func(b *batch.Batch) (float32, error)
	Config  zo.Config
	Teacher *Teacher
}

// Step runs zo.Step on b.
func (m *MeZO) Step(b *batch.Batch, seed uint64, k int) (StepRecord, error) {
	c := m.Config
	if m.Teacher != nil && m.Teacher.ProjGrad != nil {
		if g, ok := m.Teacher.ProjGrad(k); ok {
			c.ProjGrad = func(float32) float32 { return g }
		}
	}
	r, err := zo.Step(m.Params, func() (float32, error) { return m.Loss(b) }, seed, c)
	rec := StepRecord{Seed: seed, LR: c.LR, LossPlus: r.LossPlus, LossMinus: r.LossMinus, ProjGrad: r.ProjGrad}
	return rec, err
}

// ForwardsPerStep is 2: ℓ+ and ℓ−.
func (m *MeZO) ForwardsPerStep() int { return 2 }

// Close is a no-op (the session owns the parameters).
func (m *MeZO) Close() error { return nil }

// FineTune is the fine-tuning step (MEZO_SPEC §6): a training-mode forward
// (dropout on, masks from the run's global generator), backward, gradient
// clipping, an optimizer step at the schedule's rate, zero_grad.
type FineTune struct {
	// Net is the model and objective whose training forward is taken.
	Net Net
	// Params are the trainable tensors (requires_grad set), Opt's list.
	Params  *torch.ParamList
	Opt     *torch.Optimizer
	Sched   optim.Schedule
	MaxNorm float64
	// Dropout draws the dropout masks (the reference's global generator).
	Dropout *torch.Generator
	Train   bool // dropout on
}

// NewFineTune makes the optimizer (the reference's parameter groups) and
// schedule from the recipe.
func NewFineTune(s *Session, global *torch.Generator, totalSteps int) (*FineTune, error) {
	o := s.Recipe.Optim
	opt, err := optim.New(s.Params, s.Names, OptimConfig(o))
	if err != nil {
		return nil, err
	}
	sched, err := NewSchedule(o, totalSteps)
	if err != nil {
		opt.Close()
		return nil, err
	}
	if err := s.Net.Params().SetRequiresGrad(true); err != nil {
		opt.Close()
		return nil, err
	}
	return &FineTune{Net: s.Net, Params: s.Params, Opt: opt, Sched: sched, MaxNorm: o.MaxGradNorm, Dropout: global,
		Train: s.Recipe.Model.TrainDropout}, nil
}

// Step runs one fine-tuning update on b: Accumulate, then ApplyUpdate.
func (f *FineTune) Step(b *batch.Batch, _ uint64, k int) (StepRecord, error) {
	rec, err := f.Accumulate(b, StepEnv{}, k, 1)
	if err != nil {
		return rec, err
	}
	return rec, f.ApplyUpdate(&rec, k)
}

// Accumulate runs one micro-batch of update k: the training forward, the
// loss divided by steps when steps > 1 (Hugging Face's training_step under
// gradient accumulation), backward into the gradients. rec.Loss is that
// divided loss and rec.LR the update's rate.
func (f *FineTune) Accumulate(b *batch.Batch, _ StepEnv, k, steps int) (StepRecord, error) {
	sc := torch.NewScope(torch.Grad)
	loss := f.Net.Forward(sc, b, f.Train, f.Dropout)
	if steps > 1 {
		loss = sc.DivScalar(loss, float64(steps))
	}
	if err := sc.Err(); err != nil {
		sc.Close()
		return StepRecord{}, err
	}
	lv, err := loss.Item()
	if err == nil {
		err = loss.Backward()
	}
	if err = errors.Join(err, sc.Close()); err != nil {
		return StepRecord{}, err
	}
	rec := StepRecord{Loss: float32(lv), LR: f.Sched.LR(k)}
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		return rec, &zo.NonFiniteError{What: "fine-tuning loss", Value: float32(lv)}
	}
	return rec, nil
}

// ApplyUpdate takes update k from the gradients accumulated: clipping (its
// pre-clip norm into rec.GradNorm), the optimizer step at the schedule's
// rate, zero_grad.
func (f *FineTune) ApplyUpdate(rec *StepRecord, k int) error {
	rec.LR = f.Sched.LR(k)
	if f.MaxNorm > 0 {
		var err error
		if rec.GradNorm, err = f.Params.ClipGradNorm(f.MaxNorm); err != nil {
			return err
		}
	}
	if err := f.Opt.Step(rec.LR); err != nil {
		return err
	}
	return f.Params.ZeroGrad(false)
}

// ForwardsPerStep is 0: fine-tuning is outside the ZO forward budget.
func (f *FineTune) ForwardsPerStep() int { return 0 }

// Close frees the optimizer state.
func (f *FineTune) Close() error { return f.Opt.Close() }

// optimizer is the state a checkpoint keeps.
func (f *FineTune) optimizer() *torch.Optimizer { return f.Opt }
