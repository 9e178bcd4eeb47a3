package train_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/pkg/train"
)

// runRecords runs a recipe of tinyRecipe with sets and returns its update
// records, the dev evaluations' steps during training, the trainable
// tensors before and after.
func runRecords(t *testing.T, sets ...string) (recs []train.StepRecord, evals []int, before, after [][]float64) {
	t.Helper()
	s, err := train.NewSession(tinyRecipe(t, sets...))
	reftest.Must(t, err)
	defer s.Close()
	before = readList(t, s.Params)
	_, err = train.Loop(s, train.Hooks{
		Step: func(r train.StepRecord) { recs = append(recs, r) },
		Eval: func(ev *train.EvalRecord, _ *train.Session) {
			if !ev.Final {
				evals = append(evals, ev.Step)
			}
		},
	}, nil)
	reftest.Must(t, err)
	return recs, evals, before, readList(t, s.Params)
}

// updateDiff is max |(a−θ0) − (b−θ0)| over max |b−θ0|: how far two runs'
// updates differ, relative to the update's size.
func updateDiff(t *testing.T, before, a, b [][]float64) (rel, size float64) {
	t.Helper()
	var d float64
	for i := range before {
		for j := range before[i] {
			d = max(d, math.Abs(a[i][j]-b[i][j]))
			size = max(size, math.Abs(b[i][j]-before[i][j]))
		}
	}
	if size == 0 {
		t.Fatal("the run did not change the parameters")
	}
	return d / size, size
}

// TestGradientAccumulationFineTune: fine-tuning with two micro-batches of 8
// accumulated per update (SGD, no clipping, no dropout, the linear
// schedule) equals the run with one batch of their 16 examples per update,
// the mean loss over the union being the mean of the halves' means: same
// batches, same losses and learning rates, the same parameters within float32
// rounding. A missing division by the accumulation steps, or a schedule
// stepped per micro-batch, would double or skew the update.
func TestGradientAccumulationFineTune(t *testing.T) {
	common := []string{"method.kind=ft", "optim.name=sgd", "optim.lr=0.1", "optim.max_grad_norm=0", "model.train_dropout=false",
		"optim.max_steps=2", "eval.during_training=false", "eval.do_eval=false"}
	union, _, before, want := runRecords(t, append(common, "optim.batch_size=16")...)
	acc, _, before2, got := runRecords(t, append(common, "optim.batch_size=8", "optim.gradient_accumulation_steps=2")...)
	if !reflect.DeepEqual(before, before2) {
		t.Fatal("the two runs start from different parameters")
	}
	if len(union) != 2 || len(acc) != 2 {
		t.Fatalf("%d and %d updates, want 2 each", len(union), len(acc))
	}
	for i := range union {
		if !reflect.DeepEqual(union[i].Batch, acc[i].Batch) {
			t.Errorf("update %d: batch %v accumulated, %v as one", i+1, acc[i].Batch, union[i].Batch)
		}
		if union[i].LR != acc[i].LR {
			t.Errorf("update %d: learning rate %v accumulated, %v as one", i+1, acc[i].LR, union[i].LR)
		}
		if d := math.Abs(float64(acc[i].Loss-union[i].Loss)) / float64(union[i].Loss); d > 1e-5 {
			t.Errorf("update %d: loss %v accumulated (the halves' losses / 2, summed), %v as one", i+1, acc[i].Loss, union[i].Loss)
		}
	}
	rel, size := updateDiff(t, before, got, want)
	t.Logf("2 updates of 2×8 vs 16: largest update %.3g, parameters differ by %.3g of it", size, rel)
	if rel > 1e-4 {
		t.Errorf("accumulated parameters differ from the union's by %.3g of the update", rel)
	}
}

// TestGradientAccumulationZO: the trainer-optimizer ZO path with two
// micro-batches per update and n-SPSA (2 samples): each update has 4
// samples and counts 8 forwards; each estimate is ((ℓ+ − ℓ−)/2ε)/2/2 in
// float32 from its own losses (accumulation first, then n_t, as the
// reference); and the parameters after two SGD updates are θ0 − lr·Σ g_j·z_j
// with z regenerated here from each sample's seed.
func TestGradientAccumulationZO(t *testing.T) {
	const lr, eps = 1e-2, 1e-3
	recs, _, before, got := runRecords(t, "method.trainer_optim=true", "method.samples=2", "method.sample_schedule=constant",
		"runtime.z_stream=torch", "optim.lr=1e-2", "optim.weight_decay=0", "optim.batch_size=8",
		"optim.gradient_accumulation_steps=2", "optim.max_steps=2", "eval.during_training=false", "eval.do_eval=false")
	if len(recs) != 2 {
		t.Fatalf("%d updates, want 2", len(recs))
	}
	s, err := train.NewSession(tinyRecipe(t))
	reftest.Must(t, err)
	defer s.Close()
	want := before
	for u, rec := range recs {
		if len(rec.Samples) != 4 || rec.NT != 2 || rec.StepForwards != 8 || rec.Forwards != 8*(u+1) || len(rec.Batch) != 16 {
			t.Fatalf("update %d: %d samples, n_t %d, %d forwards (%d in all), %d examples; want 4, 2, 8 (%d), 16",
				u+1, len(rec.Samples), rec.NT, rec.StepForwards, rec.Forwards, len(rec.Batch), 8*(u+1))
		}
		if rec.LR != lr {
			t.Errorf("update %d: learning rate %v", u+1, rec.LR)
		}
		next := make([][]float64, len(want))
		for i := range want {
			next[i] = append([]float64(nil), want[i]...)
		}
		for j, smp := range rec.Samples {
			g := (smp.LossPlus - smp.LossMinus) / float32(2*eps)
			g /= 2 // accumulation steps
			g /= 2 // n_t
			if smp.ProjGrad != g {
				t.Errorf("update %d sample %d: estimate %v, want %v from ℓ+ %v, ℓ− %v", u+1, j, smp.ProjGrad, g, smp.LossPlus, smp.LossMinus)
			}
			z := zOf(t, s.Params, smp.Seed)
			for i := range next {
				for k := range next[i] {
					next[i][k] -= lr * float64(smp.ProjGrad) * z[i][k]
				}
			}
		}
		want = next
	}
	rel, size := updateDiff(t, before, got, want)
	t.Logf("2 updates of 2 micro-batches × 2 samples: largest update %.3g, parameters differ by %.3g of it", size, rel)
	if rel > 1e-4 {
		t.Errorf("parameters differ from θ0 − lr·Σ g·z by %.3g of the update", rel)
	}
}

// TestAccumulationWindows: 32 examples in batches of 12 make epochs of
// three batches (12, 12, 8); with two micro-batches per update and an
// evaluation every step, the windows and evaluation steps are, by hand from
// trainer.py: ours, [b0 b1] [b2] per epoch and an evaluation after each
// update; the reference's (reference: true), [b0 b1] then b2 carried into
// the next epoch's [b0 b1] (32 examples), len(batches)//2 = 1 step per epoch,
// and the tests after every micro-batch, the first at global step 0.
func TestAccumulationWindows(t *testing.T) {
	common := []string{"method.kind=ft", "optim.name=sgd", "optim.batch_size=12", "optim.gradient_accumulation_steps=2",
		"optim.max_steps=3", "eval.steps=1", "model.train_dropout=false"}
	for _, c := range []struct {
		name  string
		sets  []string
		sizes []int
		evals []int
	}{
		{"ours", nil, []int{24, 8, 24}, []int{1, 2, 3}},
		{"reference", []string{"reference=true"}, []int{24, 32, 32}, []int{0, 1, 1, 1, 2, 2, 2, 3, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			recs, evals, _, _ := runRecords(t, append(common, c.sets...)...)
			var sizes []int
			for _, r := range recs {
				sizes = append(sizes, len(r.Batch))
			}
			if !reflect.DeepEqual(sizes, c.sizes) {
				t.Errorf("examples per update %v, want %v", sizes, c.sizes)
			}
			if !reflect.DeepEqual(evals, c.evals) {
				t.Errorf("evaluations at global steps %v, want %v", evals, c.evals)
			}
		})
	}
}
