package train_test

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/metrics"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/probe"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// The linear-probing runs of mezo-reference-peft. They ran on the previous
// fixture's model and initial state (its README), which the folders do not
// repeat.
var lpRuns = []string{"lp", "lp-early", "lp-finetune-flh", "lp-mezo"}

func peftDir(t *testing.T, run string) string {
	return testenv.SharedPath(t, "fixtures", "mezo-reference-peft", run)
}

// peftPrep points a mezo-reference-peft recipe at the model and initial
// state it ran from.
func peftPrep(t *testing.T) func(*recipe.Recipe) {
	return func(r *recipe.Recipe) {
		r.Model.Path = testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model")
		r.Model.InitState = testenv.SharedPath(t, "fixtures", "mezo-reference-run", "initial.safetensors")
		r.Output.Dir = t.TempDir()
	}
}

// lpArrays is a run's lp_arrays.safetensors: sklearn's inputs and outputs
// and the rows the reference wrote.
type lpArrays struct {
	sd       *hf.StateDict
	features [][]float64
	labels   []int
	order    []int
	fit      *probe.Fit // sklearn's coef_, intercept_ and C_
}

func readLPArrays(t *testing.T, run string) *lpArrays {
	t.Helper()
	sd, err := hf.ReadSafetensors(filepath.Join(peftDir(t, run), "lp_arrays.safetensors"))
	reftest.Must(t, err)
	a := &lpArrays{sd: sd}
	f := a.f64(t, "features")
	d := int(sd.Tensors["features"].Shape[1])
	labels, err := sd.Tensors["labels"].Int64s()
	reftest.Must(t, err)
	order, err := sd.Tensors["feature_row_train_index"].Int64s()
	reftest.Must(t, err)
	for i := range labels {
		a.features = append(a.features, f[i*d:(i+1)*d])
		a.labels = append(a.labels, int(labels[i]))
		a.order = append(a.order, int(order[i]))
	}
	a.fit = &probe.Fit{Classes: 2, Coef: [][]float64{a.f64(t, "coef")}, Intercept: a.f64(t, "intercept"), C: a.f64(t, "C")[0]}
	return a
}

func (a *lpArrays) f64(t *testing.T, name string) []float64 {
	t.Helper()
	tt, ok := a.sd.Tensors[name]
	if !ok {
		t.Fatalf("lp_arrays has no %s", name)
	}
	v, err := tt.Float64s()
	reftest.Must(t, err)
	return v
}

func (a *lpArrays) f32(t *testing.T, name string) []float32 {
	t.Helper()
	tt, ok := a.sd.Tensors[name]
	if !ok {
		t.Fatalf("lp_arrays has no %s", name)
	}
	v, err := tt.Float32s()
	reftest.Must(t, err)
	return v
}

// stoppingBound is how far two L-BFGS solutions that both stopped at
// gradient ∞-norm ≤ tol can lie apart in any coordinate: the objective is
// 1/C-strongly convex, so each is within C·√(d+1)·tol of the optimum
// (pkg/probe's TestFitMatchesSklearn).
func stoppingBound(r *recipe.Recipe, C float64, d int) float64 {
	tol := 1e-4
	if r.Method.LPEarlyStopping {
		tol = probe.EarlyStopping.Tol
	}
	return 2 * C * math.Sqrt(float64(d+1)) * tol
}

// checkProbe compares a probe with the reference's: the feature rows (the
// DataLoader order, labels and values), our own fit against sklearn's, and,
// as the teacher forced sklearn's fit, the rows written into the model bit
// for bit, with nothing else of the head changed.
func checkProbe(t *testing.T, run string, a *lpArrays, p *train.ProbeRecord, s *train.Session) {
	t.Helper()
	if !slices.Equal(p.Order, a.order) {
		t.Errorf("feature rows are train examples %v, reference %v", p.Order, a.order)
	}
	if !slices.Equal(p.Labels, a.labels) {
		t.Errorf("labels %v, reference %v", p.Labels, a.labels)
	}
	worst := 0.0
	for i := range a.features {
		for j, v := range a.features[i] {
			worst = math.Max(worst, math.Abs(p.Features[i][j]-v)/math.Max(1, math.Abs(v)))
		}
	}
	// fp32 features through the same ops (a different BLAS): 1e-5 relative.
	if worst > 1e-5 {
		t.Errorf("features differ from the reference's by %.3g (relative, floor 1), over 1e-5", worst)
	}
	own := p.Own
	if own == nil {
		t.Fatal("the teacher's fit was not used")
	}
	if own.C != a.fit.C {
		t.Errorf("our fit chose C %v, sklearn %v", own.C, a.fit.C)
	}
	d := len(a.features[0])
	bound := stoppingBound(s.Recipe, a.fit.C, d)
	dc := 0.0
	for j, w := range a.fit.Coef[0] {
		dc = math.Max(dc, math.Abs(own.Coef[0][j]-w))
	}
	db := math.Abs(own.Intercept[0] - a.fit.Intercept[0])
	if dc > bound || db > bound {
		t.Errorf("our coefficients %.3g and intercept %.3g from sklearn's: beyond the stopping bound %.3g", dc, db, bound)
	}
	t.Logf("%s: features within %.2g; our fit C %v, |Δcoef| ≤ %.3g, |Δintercept| %.3g (bound %.3g), training accuracy %.4f",
		run, worst, own.C, dc, db, bound, p.TrainAccuracy)

	// The rows written: sklearn's fit through the ±coef/2 rule, bit for bit.
	wRows, wBias := "written.decoder_rows", "written.bias"
	if s.Recipe.Model.Head == recipe.HeadClassification {
		wRows, wBias = "written.classifier.weight", "written.classifier.bias"
	}
	wantRows, wantBias := a.f32(t, wRows), a.f32(t, wBias)
	for c := range p.W {
		for j := range p.W[c] {
			if float32(p.W[c][j]) != wantRows[c*d+j] {
				t.Fatalf("row %d[%d] = %v, reference wrote %v", c, j, float32(p.W[c][j]), wantRows[c*d+j])
			}
		}
		if float32(p.B[c]) != wantBias[c] {
			t.Errorf("bias %d = %v, reference wrote %v", c, float32(p.B[c]), wantBias[c])
		}
	}
	// The model holds them, and every other entry of the head is the
	// initial state's.
	init, err := hf.ReadSafetensors(s.Recipe.Model.InitState)
	reftest.Must(t, err)
	type head struct {
		name string
		rows []int64 // nil: the whole tensor was written
	}
	var heads []head
	if s.Recipe.Model.Head == recipe.HeadClassification {
		heads = []head{{"classifier.weight", nil}, {"classifier.bias", nil}}
	} else {
		heads = []head{{"lm_head.decoder.weight", s.LabelWords}, {"lm_head.bias", s.LabelWords}}
	}
	for _, h := range heads {
		got, err := s.Model.Params.Get(h.name).T.Float32s()
		reftest.Must(t, err)
		before, err := init.Tensors[h.name].Float32s()
		reftest.Must(t, err)
		width := len(got) / int(init.Tensors[h.name].Shape[0])
		want := wantRows
		if width == 1 {
			want = wantBias
		}
		changed := 0
		for i := 0; i < len(got); i += width {
			row := int64(i / width)
			c := slices.Index(h.rows, row)
			if h.rows == nil {
				c = int(row)
			}
			for j := 0; j < width; j++ {
				w := before[i+j]
				if c >= 0 {
					w = want[c*width+j]
				}
				if got[i+j] != w {
					t.Fatalf("%s[%d][%d] = %v, want %v (written row %d)", h.name, row, j, got[i+j], w, c)
				}
				if got[i+j] != before[i+j] {
					changed++
				}
			}
		}
		if changed == 0 {
			t.Errorf("%s: nothing written", h.name)
		}
	}
}

// TestLinearProbeReferenceRuns replays the linear-probing runs of
// mezo-reference-peft through the code path `mezo run` uses, with sklearn's
// recorded fit forced in place of ours (the two minimisers agree only to
// their stopping tolerance): the features, the rows written and then every
// evaluation and, for LP-MeZO, every step (projected gradients forced as in
// TestReferenceRuns) match the reference's. lp-mezo-localdir is the
// reference's no-op --from_linearhead: a plain MeZO run.
func TestLinearProbeReferenceRuns(t *testing.T) {
	threads, _ := torch.NumThreads()
	torch.SetNumThreads(1) // as the reference ran
	defer torch.SetNumThreads(threads)
	for _, run := range append(slices.Clone(lpRuns), "lp-mezo-localdir") {
		t.Run(run, func(t *testing.T) {
			ro := runOptions{prep: peftPrep(t)}
			probed := false
			if run != "lp-mezo-localdir" {
				a := readLPArrays(t, run)
				ro.probe = a.fit
				ro.onProbe = func(p *train.ProbeRecord, s *train.Session) {
					probed = true
					checkProbe(t, run, a, p, s)
				}
			} else {
				ro.onProbe = func(*train.ProbeRecord, *train.Session) { probed = true }
			}
			checkRunWith(t, peftDir(t, run), true, ro)
			if probed != (run != "lp-mezo-localdir") {
				t.Errorf("probed %v", probed)
			}
		})
	}
}

// TestLinearProbeFreeRunning runs the LP fixtures with our own fit. Its
// coefficients differ from sklearn's by Δ (within the stopping bound), so
// each final logit may move by at most ½(‖Δcoef‖₂·X + |Δintercept|), where
// X bounds a feature row's norm: the features leave a LayerNorm with
// weight γ and bias β, so ‖x‖ ≤ max|γ|·√d + ‖β‖. A prediction may differ
// from the reference's only where the reference's margin is within twice
// that.
func TestLinearProbeFreeRunning(t *testing.T) {
	for _, run := range []string{"lp", "lp-early", "lp-finetune-flh"} {
		t.Run(run, func(t *testing.T) {
			a := readLPArrays(t, run)
			r, err := recipe.FromReferenceArgs(filepath.Join(peftDir(t, run), "args.json"))
			reftest.Must(t, err)
			peftPrep(t)(r)
			s, err := train.NewSession(r)
			reftest.Must(t, err)
			defer s.Close()
			out, err := train.Loop(s, train.Hooks{}, nil)
			reftest.Must(t, err)
			p := out.Probe
			if p == nil || p.Own != nil {
				t.Fatalf("probe %+v", p)
			}
			ln := "lm_head.layer_norm"
			if r.Model.Head == recipe.HeadClassification {
				ln = "roberta.encoder.layer." + strconv.Itoa(s.Model.Config.Layers-1) + ".output.LayerNorm"
			}
			gamma, err := s.Model.Params.Get(ln + ".weight").T.Float32s()
			reftest.Must(t, err)
			beta, err := s.Model.Params.Get(ln + ".bias").T.Float32s()
			reftest.Must(t, err)
			var gmax, bnorm float64
			for i := range gamma {
				gmax = math.Max(gmax, math.Abs(float64(gamma[i])))
				bnorm += float64(beta[i]) * float64(beta[i])
			}
			X := gmax*math.Sqrt(float64(len(gamma))) + math.Sqrt(bnorm)
			var dc2 float64
			for j, w := range a.fit.Coef[0] {
				dc2 += (p.Fit.Coef[0][j] - w) * (p.Fit.Coef[0][j] - w)
			}
			shift := 0.5*(math.Sqrt(dc2)*X+math.Abs(p.Fit.Intercept[0]-a.fit.Intercept[0])) + 1e-4
			logits, err := hf.ReadSafetensors(filepath.Join(peftDir(t, run), "eval_logits.safetensors"))
			reftest.Must(t, err)
			for split, ev := range map[string]*train.EvalRecord{"dev": out.Dev, "test": out.Test} {
				want, err := logits.Tensors["final."+split].Float32s()
				reftest.Must(t, err)
				if len(want) != len(ev.Logits) {
					t.Fatalf("%s: %d logits, reference %d", split, len(ev.Logits), len(want))
				}
				worst, flips, open := 0.0, 0, 0
				for i := 0; i < len(want); i += 2 {
					for c := 0; c < 2; c++ {
						worst = math.Max(worst, math.Abs(float64(ev.Logits[i+c]-want[i+c])))
					}
					margin := math.Abs(float64(want[i+1] - want[i]))
					if margin <= 2*shift {
						open++
					}
					if (ev.Logits[i+1] > ev.Logits[i]) != (want[i+1] > want[i]) {
						flips++
						if margin > 2*shift {
							t.Errorf("%s example %d: prediction differs from the reference's at margin %.3g > %.3g", split, i/2, margin, 2*shift)
						}
					}
				}
				if worst > shift {
					t.Errorf("%s: logits differ by %.3g, beyond %.3g", split, worst, shift)
				}
				t.Logf("%s %s: %d/%d correct (logits within %.3g of the reference's, bound %.3g; %d predictions differ, %d open)",
					run, split, ev.Correct, len(ev.Labels), worst, shift, flips, open)
			}
		})
	}
}

// TestProbedHeadPredictsAsProbe is the acceptance check of linear probing:
// once the probe is written into the decoder's label-word rows (or the
// bare classifier), the model's own predictions on the training examples
// are the probe's, for two and for five classes and in finetune mode. Only
// rows whose two best probe scores lie within 1e-4 (float32 rounding of the
// rows and of the logits) may differ.
func TestProbedHeadPredictsAsProbe(t *testing.T) {
	for _, c := range []struct{ task, mode string }{{"SST-2", "prompt"}, {"sst-5", "prompt"}, {"trec", "prompt"}, {"SST-2", "finetune"}} {
		t.Run(c.task+"/"+c.mode, func(t *testing.T) {
			r := tinyRecipe(t, "method.kind=lp", "task.name="+c.task, "task.few_shot_type="+c.mode, "optim.batch_size=8",
				"task.data_dir="+testenv.SharedPath(t, "data", "k-shot", c.task, "16-13"))
			s, err := train.NewSession(r)
			reftest.Must(t, err)
			defer s.Close()
			global, err := torch.NewGenerator(torch.CPU, uint64(r.Optim.Seed))
			reftest.Must(t, err)
			defer global.Close()
			p, err := s.LinearProbe(global, nprand.New(1), nil)
			reftest.Must(t, err)
			if p.Fit.Classes != s.Objective.Classes() || len(p.W) != s.Objective.Classes() {
				t.Fatalf("%d classes, %d rows written, head %d", p.Fit.Classes, len(p.W), s.Objective.Classes())
			}
			probePred := p.Fit.Predict(p.Features)
			var modelPred []int
			for start := 0; start < len(p.Order); start += 8 {
				var fs []lmbff.Feature
				for _, j := range p.Order[start:min(start+8, len(p.Order))] {
					f, err := s.Train.Get(j, nprand.New(2))
					reftest.Must(t, err)
					fs = append(fs, f)
				}
				b, err := lmbff.Collate(fs, s.Tok.PAD())
				reftest.Must(t, err)
				lg, _, err := s.Objective.Eval(&b)
				reftest.Must(t, err)
				pr, err := metrics.Argmax(lg, s.Objective.Classes())
				reftest.Must(t, err)
				modelPred = append(modelPred, pr...)
			}
			differ, hits := 0, 0
			for i := range probePred {
				if modelPred[i] == p.Labels[i] {
					hits++
				}
				if modelPred[i] == probePred[i] {
					continue
				}
				differ++
				if gap := topGap(p, i); gap > 1e-4 {
					t.Errorf("row %d (train example %d): the model predicts %d, the probe %d (score gap %.3g)", i, p.Order[i], modelPred[i], probePred[i], gap)
				}
			}
			if acc := float64(hits) / float64(len(probePred)); differ == 0 && acc != p.TrainAccuracy {
				t.Errorf("model accuracy %v, probe's %v", acc, p.TrainAccuracy)
			}
			t.Logf("%d classes, %d examples, C %g: training accuracy %.4f, %d predictions differ", p.Fit.Classes, len(probePred), p.Fit.C, p.TrainAccuracy, differ)
		})
	}
}

// topGap is the gap between row i's two best head scores under the rows
// the probe wrote (float64).
func topGap(p *train.ProbeRecord, i int) float64 {
	a, b := math.Inf(-1), math.Inf(-1)
	for c := range p.W {
		v := p.B[c]
		for j, w := range p.W[c] {
			v += w * p.Features[i][j]
		}
		if v > a {
			a, b = v, a
		} else if v > b {
			b = v
		}
	}
	return a - b
}
