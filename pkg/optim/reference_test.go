package optim_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/optim"
)

type trainerFixture struct {
	Args struct {
		LR          float64 `json:"learning_rate"`
		WeightDecay float64 `json:"weight_decay"`
		Eps         float64 `json:"zero_order_eps"`
		Optimizer   string  `json:"optimizer"`
		Scheduler   string  `json:"lr_scheduler_type"`
		Warmup      int     `json:"warmup_steps"`
		MaxSteps    int     `json:"max_steps"`
		Beta1       float64 `json:"adam_beta1"`
		Beta2       float64 `json:"adam_beta2"`
		AdamEps     float64 `json:"adam_epsilon"`
	} `json:"training_args"`
	Optimizer struct {
		Scheduler struct {
			LRUsed []float64 `json:"lr_used_per_step"`
		} `json:"scheduler"`
	} `json:"optimizer"`
	Batch struct {
		LabelWords []int64 `json:"label_word_list"`
	} `json:"batch"`
	Steps []struct {
		Step    int `json:"step"`
		Samples []struct {
			Seed uint64 `json:"seed"`
			Grad string `json:"projected_grad_f32"`
		} `json:"samples"`
		GradNorm float64 `json:"grad_norm_f64"`
	} `json:"steps"`
	FinalState string `json:"final_state"`
}

// TestReferenceTrainerOptimizerPasses replays the reference's
// --zero_order_use_trainer_optim runs (SGD, transformers AdamW with a linear
// warm-up schedule, n-SPSA with n = 4 under both sample schedules) on the
// parameters alone: per sample the recorded seed and projected gradient
// drive +ε −2ε +ε and p.grad += g·z; then the optimizer steps at the
// schedule's learning rate and the gradients are zeroed. The schedule must
// give the reference's learning rates exactly, the gradient norms must match
// the reference's, and every final tensor must equal the reference's bit for
// bit.
func TestReferenceTrainerOptimizerPasses(t *testing.T) {
	root := testenv.SharedPath(t, "fixtures", "mezo-reference-trainer")
	for _, name := range []string{"zo-sgd-trainer", "zo-adam", "n-spsa-constant", "n-spsa-linear", "n-spsa-linear-scale-lr"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			var fx trainerFixture
			reftest.ReadJSON(t, filepath.Join(dir, "trajectory.json"), &fx)
			if len(fx.Steps) == 0 {
				t.Fatal("no steps in the fixture")
			}
			m := reftest.PromptModel(t, dir, len(fx.Batch.LabelWords))
			defer m.Close()
			pl, err := m.Params.TrainableList()
			if err != nil {
				t.Fatal(err)
			}
			defer pl.Close()
			var names []string
			for _, p := range m.Params.Trainable() {
				names = append(names, p.Name)
			}
			a := fx.Args
			kind := optim.SGD
			if a.Optimizer == "adam" {
				kind = optim.Adam
			}
			opt, err := optim.New(pl, names, optim.Config{Kind: kind, WeightDecay: a.WeightDecay, Beta1: a.Beta1, Beta2: a.Beta2, Eps: a.AdamEps})
			if err != nil {
				t.Fatal(err)
			}
			defer opt.Close()
			sched, err := optim.NewSchedule(a.Scheduler, a.LR, a.Warmup, a.MaxSteps)
			if err != nil {
				t.Fatal(err)
			}
			samples := 0
			for k, st := range fx.Steps {
				for _, smp := range st.Samples {
					for _, sc := range []float64{1, -2} {
						reftest.Must(t, pl.Perturb(smp.Seed, sc, a.Eps))
					}
					reftest.Must(t, pl.AccumulateGrad(smp.Seed, float64(reftest.F32(t, smp.Grad))))
					reftest.Must(t, pl.Perturb(smp.Seed, 1, a.Eps))
					samples++
				}
				norms, err := pl.Norms(true)
				reftest.Must(t, err)
				var sq float64
				for _, n := range norms {
					sq += n * n
				}
				if got := math.Sqrt(sq); math.Abs(got-st.GradNorm) > 1e-5*st.GradNorm {
					t.Fatalf("step %d: gradient norm %v, reference %v", st.Step, got, st.GradNorm)
				}
				lr := sched.LR(k)
				if k < len(fx.Optimizer.Scheduler.LRUsed) && lr != fx.Optimizer.Scheduler.LRUsed[k] {
					t.Fatalf("step %d: learning rate %v, reference %v", st.Step, lr, fx.Optimizer.Scheduler.LRUsed[k])
				}
				reftest.Must(t, opt.Step(lr))
				reftest.Must(t, pl.ZeroGrad(false))
			}
			c := reftest.CompareFinal(t, m, filepath.Join(dir, fx.FinalState))
			if len(c.Differ) > 0 {
				t.Fatalf("%d tensors differ from the reference's final state: %s", len(c.Differ), strings.Join(c.Differ, ", "))
			}
			t.Logf("%s (%s): %d steps, %d samples; all %d final tensors equal the reference bit for bit", name, kind, len(fx.Steps), samples, c.Tensors)
		})
	}
}
