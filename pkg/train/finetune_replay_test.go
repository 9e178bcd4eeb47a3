package train_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/optim"
	"github.com/gomezo/gomezo/pkg/train"
)

// TestReferenceFineTuning replays the reference's fine-tuning path
// (backprop, clip_grad_norm_ 1.0, transformers AdamW with weight-decay
// groups, linear schedule) with the Go RoBERTa, autograd, the shim's
// clipping and AdamW: ft-adamw-nodropout, and ft-adamw with dropout 0.1,
// whose masks come from a generator replaying torch's global one (seeded 42;
// each step's DataLoader draws one random64 before the forward pass). Losses
// depend on the BLAS kernels (see the zo trajectory test), so they are held
// to 1e-4 and the pre-clip gradient norm to 1e-4 relative; the test logs how
// many steps and final tensors also match bit for bit.
func TestReferenceFineTuning(t *testing.T) {
	for _, name := range []string{"ft-adamw-nodropout", "ft-adamw"} {
		t.Run(name, func(t *testing.T) {
			replayFineTuningDir(t, testenv.SharedPath(t, "fixtures", "mezo-reference-trainer", name))
		})
	}
}

// replayFineTuningDir replays one fine-tuning folder.
func replayFineTuningDir(t *testing.T, dir string) {
	name := filepath.Base(dir)
	var fx struct {
		Args struct {
			LR          float64 `json:"learning_rate"`
			WeightDecay float64 `json:"weight_decay"`
			Scheduler   string  `json:"lr_scheduler_type"`
			Warmup      int     `json:"warmup_steps"`
			MaxSteps    int     `json:"max_steps"`
			MaxGradNorm float64 `json:"max_grad_norm"`
		} `json:"training_args"`
		Batch reftest.FixtureBatch `json:"batch"`
		Steps []struct {
			Step     int     `json:"step"`
			Loss     string  `json:"loss_f32"`
			GradNorm string  `json:"grad_norm_preclip_f32"`
			LRUsed   float64 `json:"lr_used"`
		} `json:"steps"`
		FinalState string `json:"final_state"`
	}
	reftest.ReadJSON(t, filepath.Join(dir, "trajectory.json"), &fx)
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := torch.NewGenerator(torch.CPU, 42) // set_seed(42)
	reftest.Must(t, err)
	defer gen.Close()
	m := reftest.PromptModel(t, dir, len(fx.Batch.LabelWords))
	defer m.Close()
	reftest.Must(t, m.Params.SetRequiresGrad(true))
	pl, err := m.Params.TrainableList()
	reftest.Must(t, err)
	defer pl.Close()
	var names []string
	for _, p := range m.Params.Trainable() {
		names = append(names, p.Name)
	}
	opt, err := optim.New(pl, names, optim.Config{Kind: optim.Adam, WeightDecay: fx.Args.WeightDecay})
	reftest.Must(t, err)
	defer opt.Close()
	sched, err := optim.NewSchedule(fx.Args.Scheduler, fx.Args.LR, fx.Args.Warmup, fx.Args.MaxSteps)
	reftest.Must(t, err)

	b := fx.Batch.Host()
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: fx.Batch.LabelWords})
	reftest.Must(t, err)
	defer ob.Close()
	// The library's fine-tuning step (what `mezo run` drives).
	ft := &train.FineTune{Net: &train.RobertaNet{Model: m, Objective: ob}, Params: pl, Opt: opt, Sched: sched, MaxNorm: fx.Args.MaxGradNorm, Dropout: gen, Train: true}
	exact := 0
	for k, st := range fx.Steps {
		if _, err := gen.Random64(); err != nil { // the epoch's DataLoader base seed
			t.Fatal(err)
		}
		rec, err := ft.Step(b, 0, k)
		reftest.Must(t, err)
		lv, norm, lr := float64(rec.Loss), rec.GradNorm, rec.LR
		if lr != st.LRUsed {
			t.Fatalf("step %d: learning rate %v, reference %v", st.Step, lr, st.LRUsed)
		}
		wantLoss, wantNorm := reftest.F32(t, st.Loss), reftest.F32(t, st.GradNorm)
		if math.Abs(lv-float64(wantLoss)) > 1e-4 {
			t.Fatalf("step %d: loss %v, reference %v", st.Step, lv, wantLoss)
		}
		if math.Abs(norm-float64(wantNorm)) > 1e-4*float64(wantNorm) {
			t.Fatalf("step %d: pre-clip gradient norm %v, reference %v", st.Step, norm, wantNorm)
		}
		if float32(lv) == wantLoss && float32(norm) == wantNorm {
			exact++
		}
	}
	c := reftest.CompareFinal(t, m, filepath.Join(dir, fx.FinalState))
	for _, n := range c.SumOff {
		t.Errorf("%s: final sum off by more than 1e-3 of its magnitude", n)
	}
	same := c.Identical
	t.Logf("%s (dropout %v): %d fine-tuning steps within tolerance, %d bit for bit; %d of %d final tensors bit for bit",
		name, cfg.HiddenDropoutProb, len(fx.Steps), exact, same, m.Params.Len())
}
