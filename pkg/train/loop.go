package train

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
	"github.com/gomezo/gomezo/pkg/metrics"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/zo"
)

// Hooks observe a run as it goes; the outputs (metrics.jsonl) are written
// from the same records. Any may be nil.
type Hooks struct {
	Step func(StepRecord)
	// Log is a training log line as the reference writes it (MeZO: before
	// the step counter moves, carrying ℓ+ of the next update; FT: after).
	Log  func(LogRecord)
	Eval func(*EvalRecord, *Session)
	// Probe sees the linear probe once it is written into the head.
	Probe func(*ProbeRecord, *Session)
}

// LogRecord is a training log entry.
type LogRecord struct {
	Step                          int // global step the entry carries
	Seed                          uint64
	Loss                          float32 // MeZO: ℓ+; FT: mean training loss since the last log
	LossPlus, LossMinus, ProjGrad float32
	GradNorm                      float64
	LR                            float64
	Forwards                      int
	Elapsed                       float64
}

// Outcome is what a run ended with.
type Outcome struct {
	GlobalStep int
	Forwards   int
	StoppedBy  string // max_steps, max_zo_forward_steps or "" (no training)
	BestStep   int    // -1 when no dev evaluation ran during training
	Best       *EvalRecord
	Start      *EvalRecord  // dev before the first step (eval.at_start), else nil
	Dev, Test  *EvalRecord  // the final evaluations (nil when not asked for)
	Probe      *ProbeRecord // the linear probe (method.kind lp, method.from_linearhead), else nil
	StepTimes  []float64
}

// ErrInterrupted is returned by a loop stopped by LoopOptions.Stop after
// its checkpoint was saved.
var ErrInterrupted = errors.New("train: interrupted")

// LoopOptions control LoopWith.
type LoopOptions struct {
	// Teacher forces recorded values (reference replays).
	Teacher *Teacher
	// Resume continues a run from a checkpoint Save was given.
	Resume *Checkpoint
	// Save is called with the loop's state every CheckpointEvery steps,
	// after the last step and when Stop reports true. The checkpoint's
	// tensors belong to the loop: Save must copy what it keeps.
	Save            func(*Checkpoint) error
	CheckpointEvery int
	// Stop is polled after every step; when it reports true the loop saves
	// a checkpoint and returns ErrInterrupted.
	Stop func() bool
	// Trained, when set, is called once training ends, with the model as
	// the last step left it (before the best dev model is reloaded).
	Trained func() error
}

// Loop runs the recipe's method on the session: the reference's training
// loop (MEZO_SPEC §5), then the final dev and test evaluations with the
// best dev model reloaded from its host-memory copy.
func Loop(s *Session, h Hooks, teacher *Teacher) (*Outcome, error) {
	return LoopWith(s, h, LoopOptions{Teacher: teacher})
}

// LoopWith is Loop with checkpoints, resumption and interruption.
func LoopWith(s *Session, h Hooks, lo LoopOptions) (*Outcome, error) {
	if err := s.ensureNet(); err != nil {
		return nil, err
	}
	teacher := lo.Teacher
	r := s.Recipe
	o := r.Optim
	q := r.Quirks()
	out := &Outcome{BestStep: -1}
	if r.Method.Kind == recipe.ZeroShot {
		return out, s.finalEvals(out, h)
	}
	if r.Eval.AtStart && s.HasSplit("dev") {
		// Before any generator exists, so it draws nothing from the run's
		// streams. A resumed run evaluates the initial model again (the
		// checkpoint is restored below) for result.json, but its eval line
		// is already in metrics.jsonl.
		ev, err := s.EvaluateSplit("dev", 0)
		if err != nil {
			return nil, err
		}
		out.Start = ev
		if h.Eval != nil && lo.Resume == nil {
			h.Eval(ev, s)
		}
	}
	n := s.trainLen()
	perEpoch := (n + o.BatchSize - 1) / o.BatchSize
	if o.DropLast {
		perEpoch = n / o.BatchSize
	}
	if perEpoch == 0 {
		return nil, fmt.Errorf("optim.batch_size %d with drop_last leaves no batch of the %d training examples", o.BatchSize, n)
	}
	// Gradient accumulation: an update every ga micro-batches (MEZO_SPEC
	// §4.4, §5; quirk AccumulationWindows for the reference's windows).
	ga := max(1, o.GradientAccumulationSteps)
	refWindows := q.AccumulationWindows
	stepsPerEpoch := max(1, perEpoch)
	if ga > 1 {
		if refWindows {
			stepsPerEpoch = max(1, perEpoch/ga)
		} else {
			stepsPerEpoch = (perEpoch + ga - 1) / ga
		}
	}
	maxSteps := o.MaxSteps
	epochs := 0
	if maxSteps > 0 {
		epochs = (maxSteps + stepsPerEpoch - 1) / stepsPerEpoch
	} else {
		epochs = int(math.Ceil(o.Epochs))
		maxSteps = int(math.Ceil(o.Epochs * float64(stepsPerEpoch)))
	}

	// The reference's random streams: torch's global generator after
	// set_seed (the sampler's seed, each epoch's DataLoader base seed,
	// fine-tuning's dropout masks), the sampler's own generator, and numpy's
	// stream for the step seeds (and, in the reference-data stream, one
	// demonstration draw per fetched example).
	global, err := torch.NewGenerator(torch.CPU, uint64(o.Seed))
	if err != nil {
		return nil, err
	}
	defer global.Close()
	s.global = global
	defer func() { s.global = nil }()
	stream := nprand.New(uint32(o.Seed))
	demos := stream // reference-data: the features' draws share the stream
	if r.Method.SeedStream == recipe.SeedSimple {
		demos = nprand.New(uint32(o.Seed) ^ 0x5eed)
	}
	if probes(r) {
		// Linear probing comes first, with its own pass over the training
		// set (the reference's Trainer.train calls LinearHeadTrainer.train
		// before building its DataLoader). A resumed run probes again from
		// the same initial model and draws (the head it writes may be
		// frozen, so outside the checkpoint), and the checkpoint then
		// restores the trained tensors and every stream; the hook saw the
		// probe before the interruption.
		if out.Probe, err = s.LinearProbe(global, demos, teacher); err != nil {
			return nil, err
		}
		if h.Probe != nil && lo.Resume == nil {
			h.Probe(out.Probe, s)
		}
		if r.Method.Kind == recipe.LP {
			return out, s.finalEvals(out, h)
		}
	}
	samplerSeed, err := global.Random64()
	if err != nil {
		return nil, err
	}
	sampler, err := torch.NewGenerator(torch.CPU, uint64(samplerSeed))
	if err != nil {
		return nil, err
	}
	defer sampler.Close()

	m, err := NewMethod(s, global, maxSteps, teacher)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	acc, _ := m.(Accumulator)
	if ga > 1 && acc == nil {
		return nil, fmt.Errorf("optim.gradient_accumulation_steps: %d needs a method with gradient buffers (fine-tuning or method.trainer_optim), not %T", ga, m)
	}
	// window gathers the micro-batches of the next update (ga > 1); with the
	// reference's windows it can span an epoch's end.
	var window StepRecord
	windowTime := 0.0

	var best *torch.ParamList // host copy of the best dev model
	defer func() { best.Close() }()
	bestObj := math.Inf(-1)
	start := time.Now()
	var ftLossSum float64
	ftLossN := 0
	over := func(v, limit int) bool {
		if q.StopPastBudget {
			return v > limit
		}
		return v >= limit
	}
	fwdBudget := func() bool {
		if o.MaxZOForwardSteps <= 0 || m.ForwardsPerStep() == 0 {
			return false
		}
		if q.StopPastBudget {
			return out.Forwards > o.MaxZOForwardSteps
		}
		return out.Forwards+ga*m.ForwardsPerStep() > o.MaxZOForwardSteps
	}
	// evalDev is the evaluation schedule's test (global_step % eval_steps
	// == 0 after the step) and the best-dev snapshot.
	evalDev := func() error {
		if !r.Eval.DuringTraining || r.Eval.Steps <= 0 || out.GlobalStep%r.Eval.Steps != 0 || !s.HasSplit("dev") {
			return nil
		}
		ev, err := s.EvaluateSplit("dev", out.GlobalStep)
		if err != nil {
			return err
		}
		if h.Eval != nil {
			h.Eval(ev, s)
		}
		if metrics.Better(ev.Objective, bestObj) {
			bestObj, out.BestStep, out.Best = ev.Objective, out.GlobalStep, ev
			best.Close()
			if best, err = s.Params.SnapshotTo(torch.CPU); err != nil {
				return err
			}
		}
		return nil
	}
	k := 0
	startEpoch, startBatch := 0, 0
	var resumeOrder []int
	if c := lo.Resume; c != nil {
		if err := c.restore(s, m, global, sampler, stream, demos, demos != stream); err != nil {
			return nil, err
		}
		out.GlobalStep, out.Forwards, k = c.Step, c.Forwards, c.Step
		startEpoch, startBatch, resumeOrder = c.Epoch, c.Batch, c.Order
		ftLossSum, ftLossN = c.FTLossSum, c.FTLossN
		if c.BestParams != nil {
			bestObj, out.BestStep = c.BestObjective, c.BestStep
			if best, err = c.BestParams.SnapshotTo(torch.CPU); err != nil {
				return nil, err
			}
		}
	}
	var order []int
	saved := -1
	if lo.Resume != nil {
		saved = lo.Resume.Step
	}
	checkpoint := func(epoch, next int) error {
		if lo.Save == nil {
			return nil
		}
		saved = out.GlobalStep
		c := &Checkpoint{Step: out.GlobalStep, Forwards: out.Forwards, Epoch: epoch, Batch: next, Order: order,
			FTLossSum: ftLossSum, FTLossN: ftLossN, BestStep: out.BestStep, BestObjective: bestObj, Params: s.Params, BestParams: best}
		if err := c.capture(m, global, sampler, stream, demos, demos != stream); err != nil {
			return err
		}
		defer c.release()
		return lo.Save(c)
	}
train:
	for epoch := startEpoch; epoch < epochs; epoch++ {
		first := 0
		if epoch == startEpoch && resumeOrder != nil {
			// Resumed inside this epoch: its draws were made before the
			// checkpoint.
			order, first = resumeOrder, startBatch
		} else {
			if _, err := global.Random64(); err != nil { // the epoch's DataLoader base seed
				return nil, err
			}
			if order, err = sampler.Randperm(n); err != nil {
				return nil, err
			}
		}
		batches := cut(order, o.BatchSize, o.DropLast)
		for bi := first; bi < len(batches); bi++ {
			idx := batches[bi]
			if bi == len(batches)-1 && len(idx) < o.BatchSize {
				// A short last batch exhausts the sampler while it is
				// collated: its iterator draws one more permutation.
				if _, err := sampler.Randperm(n); err != nil {
					return nil, err
				}
			}
			b, err := s.trainBatch(idx, demos)
			if err != nil {
				return nil, err
			}
			seed := uint64(0)
			sm, perSample := m.(SampleStepper)
			if r.Method.Kind == recipe.MeZO && !perSample {
				seed = uint64(stream.Randint(1000000000))
				if teacher != nil && teacher.Seed != nil {
					if v, ok := teacher.Seed(k); ok {
						seed = v
					}
				}
			}
			t0 := time.Now()
			var rec StepRecord
			epochStart := bi == 0 && !(epoch == startEpoch && resumeOrder != nil)
			if ga > 1 {
				// One micro-batch; the update at the window's end. A
				// window ends every ga batches of the epoch and at its
				// last batch (the reference: only when the epoch has at
				// most ga batches, else the rest carry into the next).
				boundary := (bi+1)%ga == 0 || bi+1 == len(batches) && (!refWindows || len(batches) <= ga)
				var env StepEnv
				if perSample {
					env = s.stepEnv(global, stream, demos, epochStart)
				}
				mrec, err := acc.Accumulate(b, env, k, ga)
				if err == nil {
					err = torch.Synchronize(s.Device)
				}
				windowTime += time.Since(t0).Seconds()
				out.Forwards += mrec.StepForwards
				mrec.Batch = idx
				window.absorb(mrec)
				if err != nil {
					var nf *zo.NonFiniteError
					if errors.As(err, &nf) {
						return nil, fmt.Errorf("train: step %d (micro-batch %d): %w; the run stops", k+1, bi+1, err)
					}
					return nil, fmt.Errorf("train: step %d: %w", k+1, err)
				}
				if !boundary {
					if refWindows {
						// The reference's tests run after every
						// micro-batch.
						out.StoppedBy = stopReason(over(out.GlobalStep, maxSteps), fwdBudget())
						if out.StoppedBy == "" {
							if err := evalDev(); err != nil {
								return nil, err
							}
						}
						if out.StoppedBy != "" {
							if err := checkpoint(epoch, bi+1); err != nil {
								return nil, err
							}
							break train
						}
					}
					continue
				}
				rec, window = window, StepRecord{}
				err = acc.ApplyUpdate(&rec, k)
				if err == nil {
					err = torch.Synchronize(s.Device)
				}
				out.StepTimes = append(out.StepTimes, windowTime+time.Since(t0).Seconds())
				windowTime = 0
				if err != nil {
					return nil, fmt.Errorf("train: step %d: %w", k+1, err)
				}
				rec.Step, rec.Epoch = k+1, epoch
			} else {
				if perSample {
					rec, err = sm.StepSamples(b, s.stepEnv(global, stream, demos, epochStart), k)
				} else {
					rec, err = m.Step(b, seed, k)
				}
				if err := torch.Synchronize(s.Device); err != nil {
					return nil, err
				}
				out.StepTimes = append(out.StepTimes, time.Since(t0).Seconds())
				rec.Step, rec.Epoch, rec.Batch = k+1, epoch, idx
				if rec.StepForwards > 0 {
					out.Forwards += rec.StepForwards
				} else {
					out.Forwards += m.ForwardsPerStep()
				}
			}
			rec.Forwards = out.Forwards
			if err != nil {
				var nf *zo.NonFiniteError
				if errors.As(err, &nf) {
					return nil, fmt.Errorf("train: step %d (seed %d): %w; the run stops", k+1, seed, err)
				}
				return nil, fmt.Errorf("train: step %d: %w", k+1, err)
			}
			if h.Step != nil {
				h.Step(rec)
			}
			logEvery := r.Eval.LoggingSteps
			if m.ForwardsPerStep() > 0 && logEvery > 0 && out.GlobalStep%logEvery == 0 && h.Log != nil {
				h.Log(LogRecord{Step: out.GlobalStep, Seed: rec.Seed, Loss: rec.LossPlus, LossPlus: rec.LossPlus,
					LossMinus: rec.LossMinus, ProjGrad: rec.ProjGrad, GradNorm: rec.GradNorm, LR: rec.LR, Forwards: out.Forwards,
					Elapsed: time.Since(start).Seconds()})
			}
			k++
			out.GlobalStep++
			if m.ForwardsPerStep() == 0 {
				ftLossSum += float64(rec.Loss)
				ftLossN++
				if logEvery > 0 && out.GlobalStep%logEvery == 0 && h.Log != nil {
					next := 0.0
					if ft, ok := m.(*FineTune); ok {
						next = ft.Sched.LR(out.GlobalStep)
					}
					h.Log(LogRecord{Step: out.GlobalStep, Loss: float32(ftLossSum / float64(ftLossN)), GradNorm: rec.GradNorm,
						LR: next, Elapsed: time.Since(start).Seconds()})
					ftLossSum, ftLossN = 0, 0
				}
			}
			// The reference tests the budget before the evaluation schedule
			// (so a run stopped by its forward budget skips that step's
			// evaluation); otherwise the last step is evaluated first.
			if q.StopPastBudget {
				out.StoppedBy = stopReason(over(out.GlobalStep, maxSteps), fwdBudget())
			}
			if out.StoppedBy == "" {
				if err := evalDev(); err != nil {
					return nil, err
				}
			}
			if out.StoppedBy == "" {
				out.StoppedBy = stopReason(over(out.GlobalStep, maxSteps), fwdBudget())
			}
			interrupted := lo.Stop != nil && lo.Stop()
			if out.StoppedBy != "" || interrupted || (lo.CheckpointEvery > 0 && out.GlobalStep%lo.CheckpointEvery == 0) {
				if err := checkpoint(epoch, bi+1); err != nil {
					return nil, err
				}
			}
			if interrupted && out.StoppedBy == "" {
				return out, ErrInterrupted
			}
			if out.StoppedBy != "" {
				break train
			}
		}
		if len(batches) > 0 && len(batches[len(batches)-1]) == o.BatchSize {
			// The epoch's iterator was exhausted: the sampler draws (and
			// discards) one more permutation.
			if _, err := sampler.Randperm(n); err != nil {
				return nil, err
			}
		}
	}
	if out.StoppedBy == "" {
		out.StoppedBy = "max_steps"
	}
	if saved != out.GlobalStep {
		// The epochs ran out (the reference's strict stop test): the final
		// state, after every draw.
		if err := checkpoint(epochs, 0); err != nil {
			return nil, err
		}
	}
	if lo.Trained != nil {
		if err := lo.Trained(); err != nil {
			return nil, err
		}
	}
	if best != nil {
		if err := s.Params.CopyFrom(best); err != nil {
			return nil, err
		}
	}
	return out, s.finalEvals(out, h)
}

// absorb adds micro-batch m to the update record w: losses (fine-tuning's,
// already divided by the accumulation steps) summed, samples, forwards and
// batches gathered, the last sample's values and d_c kept.
func (w *StepRecord) absorb(m StepRecord) {
	w.Loss += m.Loss
	w.Samples = append(w.Samples, m.Samples...)
	w.StepForwards += m.StepForwards
	w.Batch = append(w.Batch, m.Batch...)
	w.Seed, w.LossPlus, w.LossMinus, w.ProjGrad, w.NT, w.LR = m.Seed, m.LossPlus, m.LossMinus, m.ProjGrad, m.NT, m.LR
	if m.DC != nil {
		w.DC = m.DC
	}
}

// stopReason names the budget that ends a run, or "".
func stopReason(steps, forwards bool) string {
	switch {
	case steps:
		return "max_steps"
	case forwards:
		return "max_zo_forward_steps"
	}
	return ""
}

// finalEvals evaluates dev and test with the model as it now is.
func (s *Session) finalEvals(out *Outcome, h Hooks) error {
	for _, sp := range []struct {
		name string
		dst  **EvalRecord
	}{{"dev", &out.Dev}, {"test", &out.Test}} {
		if !s.HasSplit(sp.name) || (sp.name == "dev" && !s.Recipe.Eval.DoEval) {
			continue
		}
		ev, err := s.EvaluateSplit(sp.name, out.GlobalStep)
		if err != nil {
			return err
		}
		ev.Final = true
		*sp.dst = ev
		if h.Eval != nil {
			h.Eval(ev, s)
		}
	}
	return nil
}

// trainBatch fetches the training features idx (each drawing its
// demonstration context from rng, as the reference's __getitem__ does) and
// collates them.
func (s *Session) trainBatch(idx []int, rng lmbff.Permuter) (*batch.Batch, error) {
	if s.LM != nil {
		return s.LM.trainBatch(idx)
	}
	fs := make([]lmbff.Feature, len(idx))
	for i, j := range idx {
		f, err := s.Train.Get(j, rng)
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	b, err := lmbff.Collate(fs, s.Tok.PAD())
	if err != nil {
		return nil, err
	}
	b.Index = append([]int(nil), idx...)
	return &b, nil
}

// cut splits order into batches of size bs (the last one short unless
// dropLast drops it).
func cut(order []int, bs int, dropLast bool) [][]int {
	var out [][]int
	for i := 0; i < len(order); i += bs {
		end := min(i+bs, len(order))
		if end-i < bs && dropLast {
			break
		}
		out = append(out, order[i:end])
	}
	return out
}

// median of v (0 for none).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
