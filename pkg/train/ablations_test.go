package train_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			var recs []train.StepRecord
			_, err = train.Loop(s, train.Hooks{Step: func(rec train.StepRecord) { recs = append(recs, rec) }}, nil)
			reftest.Must(t, err)
			if len(recs) != 3 {
				t.Fatalf("%d steps, want 3", len(recs))
			}
			me := r.Method
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
