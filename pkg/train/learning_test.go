package train_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// The learning test's settings. The model is the reference-run fixture's
// tiny random RoBERTa (hidden 32, 2 layers, the real 50265-token vocabulary),
// so whatever it learns comes from the task: SST-2-format sentences whose
// label is decided by a cue word.
//
// Each window covers whole epochs (two batches each), so the batches'
// composition averages out of a window mean: with lr 0 the two windows then
// differ only through z (by under 0.005 nats on the three seeds), while
// MeZO's drop is 0.16–0.18 nats (0.11 or more on seeds 1–9; at lr 2e-3 some
// seeds stall, so the rate is kept at half that). A single step's ℓ+ at
// lr 0 varies by about 0.1 nats from batch to batch.
const (
	learnSteps  = 50   // updates per run (steps 1–20 and 31–50 are the windows)
	learnWindow = 20   // logged steps averaged at each end
	learnMargin = 0.05 // nats MeZO's last window must be below its first, and FT's below MeZO's
	learnBatch  = 32
	learnTrainN = 64   // training sentences, half per label
	mezoLR      = 1e-3 // plain MeZO (SGD along z) needs a large rate on this tiny model
	mezoEps     = 1e-3
	ftLR        = 1e-3 // AdamW, linear decay to 0, dropout on
)

// learnCueTask writes an LM-BFF-format SST-2 task (train.tsv, dev.tsv,
// test.tsv with a sentence\tlabel header) into a temporary directory: each
// sentence is one cue word repeated three to five times, and the cue decides
// the label. The label words (terrible, great) are not among the cues.
func learnCueTask(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cues := [2][]string{
		{"awful", "boring", "horrible", "dreadful"},       // label 0
		{"wonderful", "excellent", "brilliant", "superb"}, // label 1
	}
	rng := rand.New(rand.NewSource(1))
	write := func(name string, n int) {
		var b strings.Builder
		b.WriteString("sentence\tlabel\n")
		for i := 0; i < n; i++ {
			label := i % 2
			cue := cues[label][rng.Intn(len(cues[label]))]
			words := make([]string, 3+rng.Intn(3))
			for j := range words {
				words[j] = cue
			}
			fmt.Fprintf(&b, "%s .\t%d\n", strings.Join(words, " "), label)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("train.tsv", learnTrainN)
	write("dev.tsv", 8)
	write("test.tsv", 8)
	return dir
}

// learnLosses runs one recipe on the cue task through the public API
// (recipe, NewSession, Loop) and returns the training loss of every logged
// step (logging_steps 1): ℓ+ for MeZO, the step's loss for FT.
func learnLosses(t *testing.T, kind recipe.Kind, data string, seed int, lr float64) []float64 {
	t.Helper()
	r := recipe.Default(kind)
	r.Name = "learning"
	r.Model.Path = testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model")
	r.Model.Head = recipe.HeadPrompt
	r.Task.Name = "SST-2"
	r.Task.DataDir = data
	r.Task.Template = "*cls**sent_0*_It_was*mask*.*sep+*"
	r.Task.Mapping = "{'0':'terrible','1':'great'}"
	r.Method.SeedStream = recipe.SeedSimple
	r.Method.Eps = mezoEps
	r.Optim.LR = lr
	r.Optim.BatchSize = learnBatch
	r.Optim.MaxSteps = learnSteps
	r.Optim.Seed = seed
	r.Eval.DuringTraining, r.Eval.DoEval, r.Eval.DoPredict = false, false, false
	r.Eval.LoggingSteps = 1
	r.Output.Dir = t.TempDir()
	s, err := train.NewSession(&r)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var losses []float64
	out, err := train.Loop(s, train.Hooks{Log: func(l train.LogRecord) { losses = append(losses, float64(l.Loss)) }}, nil)
	if err != nil {
		t.Fatalf("%s lr %g seed %d: %v", kind, lr, seed, err)
	}
	if out.GlobalStep != learnSteps || len(losses) != learnSteps {
		t.Fatalf("%s lr %g seed %d: %d steps, %d logged; want %d of each", kind, lr, seed, out.GlobalStep, len(losses), learnSteps)
	}
	return losses
}

func learnMean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// learnEnds are the mean losses of the first and the last learnWindow logged
// steps.
func learnEnds(v []float64) (first, last float64) {
	return learnMean(v[:learnWindow]), learnMean(v[len(v)-learnWindow:])
}

// TestLearning is the "Learning" acceptance check: on a small learnable task
// over three seeds, MeZO's mean ℓ+ over the last 20 logged steps is below
// that over the first 20 by learnMargin; with lr 0 (parameters never move,
// so ℓ+ varies only with the batch and z) it is not; and fine-tuning
// reaches a training loss lower than MeZO's, by learnMargin, at equal steps.
func TestLearning(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 9 short runs (about a minute on one thread)")
	}
	threads, err := torch.NumThreads()
	if err != nil {
		t.Fatal(err)
	}
	if err := torch.SetNumThreads(1); err != nil {
		t.Fatal(err)
	}
	defer torch.SetNumThreads(threads)
	if perEpoch := learnTrainN / learnBatch; learnTrainN%learnBatch != 0 || learnWindow%perEpoch != 0 || (learnSteps-learnWindow)%perEpoch != 0 {
		t.Fatalf("the windows must cover whole epochs (%d examples, batch %d, window %d of %d steps)", learnTrainN, learnBatch, learnWindow, learnSteps)
	}
	data := learnCueTask(t)
	start := time.Now()
	for _, seed := range []int{1, 2, 3} {
		t0 := time.Now()
		mezo := learnLosses(t, recipe.MeZO, data, seed, mezoLR)
		ctl := learnLosses(t, recipe.MeZO, data, seed, 0)
		ft := learnLosses(t, recipe.FT, data, seed, ftLR)
		mf, ml := learnEnds(mezo)
		cf, cl := learnEnds(ctl)
		ff, fl := learnEnds(ft)
		t.Logf("seed %d: MeZO lr %g ℓ+ first %d %.4f, last %d %.4f (drop %.4f); lr 0 %.4f → %.4f (drop %.4f); FT lr %g %.4f → %.4f (%v)",
			seed, mezoLR, learnWindow, mf, learnWindow, ml, mf-ml, cf, cl, cf-cl, ftLR, ff, fl, time.Since(t0).Round(time.Millisecond))
		// Same seed, same batches, same z, same parameters at the first
		// step: the control differs from the run only in its rate.
		if mezo[0] != ctl[0] {
			t.Errorf("seed %d: first ℓ+ %v with lr %g but %v with lr 0; the runs should start identically", seed, mezo[0], mezoLR, ctl[0])
		}
		if !(ml < mf-learnMargin) {
			t.Errorf("seed %d: MeZO did not learn: mean ℓ+ of the last %d steps %.4f, of the first %d %.4f (want a drop of more than %g)",
				seed, learnWindow, ml, learnWindow, mf, learnMargin)
		}
		if cl < cf-learnMargin {
			t.Errorf("seed %d: with lr 0 mean ℓ+ still dropped from %.4f to %.4f (more than %g): the drop is not learning",
				seed, cf, cl, learnMargin)
		}
		if !(fl < ml-learnMargin) {
			t.Errorf("seed %d: FT's mean training loss of the last %d steps %.4f is not below MeZO's %.4f by %g",
				seed, learnWindow, fl, ml, learnMargin)
		}
	}
	t.Logf("%d steps × 9 runs in %v", learnSteps, time.Since(start).Round(time.Millisecond))
}
