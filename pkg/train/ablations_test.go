package train_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// TestAblationRecipes loads every recipe of recipes/ablations, validates it
// with the session checks (what --dry-run does), runs three steps on the
// quickstart task with the tiny fixture model, and checks the behaviour
// that defines its ablation from the step records.
func TestAblationRecipes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "recipes", "ablations", "*.yaml"))
	reftest.Must(t, err)
	if len(files) == 0 {
		t.Fatal("no recipes in recipes/ablations")
	}
	model := testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model")
	data := filepath.Join("..", "..", "recipes", "quickstart", "data")
	if _, err := os.Stat(filepath.Join(data, "train.tsv")); err != nil {
		t.Fatalf("the quickstart task: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			// Variants: batch 32 makes two batches per epoch of the 64
			// examples, so step 3 starts an epoch (d_c recomputation).
			bs := "optim.batch_size=8"
			if strings.Contains(name, "norm") || strings.Contains(name, "change") {
				bs = "optim.batch_size=32"
			}
			r, err := recipe.Load(f, "model.path="+model, "task.data_dir="+data, bs,
				"optim.max_steps=3", "optim.max_zo_forward_steps=0", "eval.during_training=false", "eval.do_eval=false",
				"eval.do_predict=false", "output.dir="+t.TempDir(), "optim.epochs=1")
			reftest.Must(t, err)
			s, err := train.NewSession(r)
			reftest.Must(t, err)
			defer s.Close()
			me := r.Method
			trainer := me.Kind == recipe.FT || me.TrainerOptim
			if trainer {
				checkOptimizerBuilt(t, s)
			}
			var recs []train.StepRecord
			var state *optimizerState
			_, err = train.LoopWith(s, train.Hooks{Step: func(rec train.StepRecord) { recs = append(recs, rec) }},
				train.LoopOptions{Save: func(c *train.Checkpoint) error {
					// The state after the last step, read while the
					// checkpoint's copies are alive.
					state = readOptimizerState(t, c)
					return nil
				}})
			reftest.Must(t, err)
			if trainer {
				checkOptimizerAdvanced(t, s, state, len(recs))
			} else if state != nil {
				t.Errorf("plain MeZO (no trainer optimizer) saved optimizer state")
			}
			if len(recs) != 3 {
				t.Fatalf("%d steps, want 3", len(recs))
			}
			for _, rec := range recs {
				switch {
				case me.Kind == recipe.FT:
					if rec.Loss == 0 || len(rec.Samples) != 0 {
						t.Errorf("step %d: not a fine-tuning step: %+v", rec.Step, rec)
					}
				case me.SampleSchedule == recipe.SamplesConstant:
					if rec.NT != me.Samples || rec.StepForwards != 2*me.Samples {
						t.Errorf("step %d: n_t %d, %d forwards; want %d", rec.Step, rec.NT, rec.StepForwards, me.Samples)
					}
				case me.SampleSchedule == recipe.SamplesLinear:
					want := max(1, int(float64(rec.Step-1)/3*float64(me.Samples)))
					if rec.NT != want {
						t.Errorf("step %d: n_t %d, want %d", rec.Step, rec.NT, want)
					}
				case me.Loss == recipe.LossNegAcc:
					for _, l := range []float32{rec.LossPlus, rec.LossMinus} {
						if l > 0 || l < -1 || l*8 != float32(int(l*8)) {
							t.Errorf("step %d: loss %v is not minus a batch accuracy of 8", rec.Step, l)
						}
					}
				}
				if me.ZOVariant != recipe.VariantNone {
					want := rec.Step == 1 || rec.Step == 3 && me.RecomputeNorms
					if want != (rec.DC != nil) {
						t.Errorf("step %d: d_c computed %v", rec.Step, rec.DC != nil)
					}
					if rec.Step == 1 && me.UseZOGradEst && rec.StepForwards != 2+2*len(rec.DC) {
						t.Errorf("step 1: %d forwards, want 2 + 2 per group", rec.StepForwards)
					}
				}
			}
			if me.Kind == recipe.MeZO && me.TrainerOptim && r.Optim.Name == recipe.SGD && r.Optim.Momentum == 0 && me.ZOVariant == recipe.VariantNone && me.SampleSchedule == recipe.SamplesNone {
				t.Errorf("an ablation recipe that is plain MeZO")
			}
			t.Logf("%s: 3 steps, n_t %d..%d", name, recs[0].NT, recs[2].NT)
		})
	}
}

// checkOptimizerBuilt builds the recipe's method as the loop does and reads
// its optimizer back from the shim: the kind optim.name names (sgd with
// momentum when optim.momentum > 0), its hyper-parameters, and the
// reference's two weight-decay groups (names containing "bias" or
// "LayerNorm.weight" get 0).
func checkOptimizerBuilt(t *testing.T, s *train.Session) {
	t.Helper()
	o := s.Recipe.Optim
	gen, err := torch.NewGenerator(torch.CPU, 1)
	reftest.Must(t, err)
	defer gen.Close()
	m, err := train.NewMethod(s, gen, o.MaxSteps, nil)
	reftest.Must(t, err)
	defer m.Close()
	var opt *torch.Optimizer
	switch m := m.(type) {
	case *train.ZOTrainer:
		opt = m.Opt
	case *train.FineTune:
		opt = m.Opt
	default:
		t.Fatalf("method %T has no optimizer", m)
	}
	info, err := opt.Info()
	reftest.Must(t, err)
	want := map[recipe.Optimizer]string{recipe.SGD: "sgd", recipe.AdamW: "adamw-hf", recipe.TorchAdam: "torch-adam",
		recipe.TorchAdamW: "torch-adamw"}[o.Name]
	if o.Name == recipe.SGD && o.Momentum > 0 {
		want = "sgd-momentum"
	}
	if info.Kind != want {
		t.Errorf("optimizer %s, the recipe names %s (momentum %v)", info.Kind, o.Name, o.Momentum)
	}
	switch info.Kind {
	case "adamw-hf", "torch-adam", "torch-adamw":
		if info.Beta1 != o.AdamBeta1 || info.Beta2 != o.AdamBeta2 || info.Eps != o.AdamEpsilon || !info.CorrectBias {
			t.Errorf("Adam built with betas (%v, %v), eps %v, bias correction %v; the recipe has (%v, %v), %v",
				info.Beta1, info.Beta2, info.Eps, info.CorrectBias, o.AdamBeta1, o.AdamBeta2, o.AdamEpsilon)
		}
	case "sgd-momentum":
		if info.Momentum != o.Momentum || info.Dampening != o.Dampening || info.Nesterov != o.Nesterov {
			t.Errorf("SGD built with momentum %v, dampening %v, nesterov %v; the recipe has %v, %v, %v",
				info.Momentum, info.Dampening, info.Nesterov, o.Momentum, o.Dampening, o.Nesterov)
		}
	}
	for i, n := range s.Names {
		wd := o.WeightDecay
		if strings.Contains(n, "bias") || strings.Contains(n, "LayerNorm.weight") {
			wd = 0
		}
		if info.WeightDecay[i] != wd {
			t.Errorf("%s: weight decay %v, want %v", n, info.WeightDecay[i], wd)
		}
	}
	t.Logf("optimizer %+v", struct {
		Kind                    string
		Beta1, Beta2, Momentum  float64
		Decayed, TensorsInTotal int
	}{info.Kind, info.Beta1, info.Beta2, info.Momentum, countNonZero(info.WeightDecay), len(info.WeightDecay)})
}

func countNonZero(v []float64) int {
	n := 0
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return n
}

// optimizerState is what a run's last checkpoint holds of its optimizer:
// per-tensor step counts and the sums of squares of the two moments (SGD
// momentum: the buffer is the first).
type optimizerState struct {
	Steps      []int64
	SumSqExpAv []float64
	SumSqExpSq []float64
}

func readOptimizerState(t *testing.T, c *train.Checkpoint) *optimizerState {
	t.Helper()
	if c.Opt == nil {
		return nil
	}
	st := &optimizerState{Steps: append([]int64(nil), c.Opt.Steps...)}
	sumsq := func(pl *torch.ParamList) []float64 {
		var out []float64
		for _, v := range readList(t, pl) {
			s := 0.0
			for _, x := range v {
				s += x * x
			}
			out = append(out, s)
		}
		return out
	}
	st.SumSqExpAv, st.SumSqExpSq = sumsq(c.Opt.ExpAvg), sumsq(c.Opt.ExpAvgSq)
	return st
}

// checkOptimizerAdvanced: after n updates, Adam has stepped every tensor n
// times with non-zero moments, SGD with momentum has non-zero buffers, plain
// SGD has no state. (Every trainable tensor gets a gradient: the ZO estimate
// covers all of them, and fine-tuning's loss reads all of them.)
func checkOptimizerAdvanced(t *testing.T, s *train.Session, st *optimizerState, n int) {
	t.Helper()
	if st == nil {
		t.Fatal("a trainer-optimizer run saved no optimizer state")
	}
	o := s.Recipe.Optim
	plain := o.Name == recipe.SGD && o.Momentum == 0
	adam := o.Name != recipe.SGD
	for i, name := range s.Names {
		want := int64(n)
		if plain {
			want = 0
		}
		if st.Steps[i] != want {
			t.Errorf("%s: %d optimizer steps after %d updates, want %d", name, st.Steps[i], n, want)
		}
		if nz := st.SumSqExpAv[i] > 0 && !math.IsInf(st.SumSqExpAv[i], 0); nz == plain {
			t.Errorf("%s: first moment / momentum buffer Σx² = %v", name, st.SumSqExpAv[i])
		}
		if nz := st.SumSqExpSq[i] > 0; nz != adam {
			t.Errorf("%s: second moment Σx² = %v (Adam: %v)", name, st.SumSqExpSq[i], adam)
		}
	}
}
