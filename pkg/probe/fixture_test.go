package probe_test

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/probe"
)

// lpArrays reads a linear-probing run's recorded sklearn inputs and outputs
// (../shared/fixtures/mezo-reference-peft/<run>/lp_arrays.safetensors).
func lpArrays(t *testing.T, run string) (X [][]float64, y []int, sd *hf.StateDict) {
	t.Helper()
	sd, err := hf.ReadSafetensors(testenv.SharedPath(t, "fixtures", "mezo-reference-peft", run, "lp_arrays.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := sd.Tensors["features"].Float64s()
	if err != nil {
		t.Fatal(err)
	}
	labels, err := sd.Tensors["labels"].Int64s()
	if err != nil {
		t.Fatal(err)
	}
	d := int(sd.Tensors["features"].Shape[1])
	for i, l := range labels {
		X = append(X, f[i*d:(i+1)*d])
		y = append(y, int(l))
	}
	return X, y, sd
}

func f64s(t *testing.T, sd *hf.StateDict, name string) []float64 {
	t.Helper()
	v, err := sd.Tensors[name].Float64s()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestFitMatchesSklearn refits the recorded features and compares with
// LogisticRegressionCV's recorded arrays: the grid, the folds' scores and the
// chosen C exactly; coefficients and intercepts to the accuracy both
// minimisers stop at.
func TestFitMatchesSklearn(t *testing.T) {
	for _, run := range []string{"lp", "lp-early", "lp-mezo", "lp-finetune-flh"} {
		t.Run(run, func(t *testing.T) {
			X, y, sd := lpArrays(t, run)
			o := probe.Options{}
			if run == "lp-early" {
				o = probe.EarlyStopping
			}
			fit, err := probe.FitCV(X, y, o)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range f64s(t, sd, "Cs") {
				if math.Abs(fit.Cs[i]-c) > 1e-15*c {
					t.Errorf("Cs[%d] %v, sklearn %v", i, fit.Cs[i], c)
				}
			}
			// The folds' accuracies are sklearn's, except on rows whose
			// prediction the stopping tolerance leaves open: a test row x
			// whose margin under sklearn's path solution is at most
			// 2·C·√(d+1)·tol·‖(x, 1)‖ (both solutions lie within
			// C·√(d+1)·tol of the optimum) may go either way.
			scores := f64s(t, sd, "scores")     // [1, 5, 10]
			paths := f64s(t, sd, "coefs_paths") // [1, 5, 10, d+1]
			d := len(X[0])
			tol := 1e-4
			if run == "lp-early" {
				tol = probe.EarlyStopping.Tol
			}
			folds, err := probe.StratifiedFolds(y, 5)
			if err != nil {
				t.Fatal(err)
			}
			open := 0
			for f := range fit.Scores {
				for c, C := range fit.Cs {
					w := paths[(f*10+c)*(d+1) : (f*10+c+1)*(d+1)]
					n, ambiguous := 0, 0
					for i, x := range X {
						if folds[i] != f {
							continue
						}
						n++
						m, norm := w[d], 1.0
						for j := range x {
							m += w[j] * x[j]
							norm += x[j] * x[j]
						}
						if math.Abs(m) <= 2*C*math.Sqrt(float64(d+1))*tol*math.Sqrt(norm) {
							ambiguous++
						}
					}
					open += ambiguous
					if math.Abs(fit.Scores[f][c]-scores[f*10+c]) > float64(ambiguous)/float64(n)+1e-12 {
						t.Errorf("fold %d, C %g: accuracy %v, sklearn %v (%d of %d rows open)", f, C, fit.Scores[f][c], scores[f*10+c], ambiguous, n)
					}
				}
			}
			t.Logf("%d fold-C rows left open by the tolerance", open)
			if C := f64s(t, sd, "C")[0]; fit.C != C {
				t.Errorf("C_ %v, sklearn %v", fit.C, C)
			}
			coef, b := f64s(t, sd, "coef"), f64s(t, sd, "intercept")
			worst := 0.0
			for j, w := range coef {
				worst = math.Max(worst, math.Abs(fit.Coef[0][j]-w))
			}
			// Both minimisers stop once the gradient's ∞-norm is at most tol;
			// with the penalty 1/(2C)·‖w‖² the objective is 1/C-strongly
			// convex in w, so each stopping point is within C·√(d+1)·tol of
			// the optimum, and the two within twice that.
			opts := probe.Options{MaxIter: 5000, Tol: 1e-4}
			if run == "lp-early" {
				opts = probe.EarlyStopping
			}
			bound := 2 * fit.C * math.Sqrt(float64(len(coef)+1)) * opts.Tol
			if worst > bound || math.Abs(fit.Intercept[0]-b[0]) > bound {
				t.Errorf("coefficients %.3g, intercept %.3g from sklearn's: beyond the stopping bound %.3g", worst, fit.Intercept[0]-b[0], bound)
			}
			t.Logf("C %v; max |Δcoef| %.3g (|coef| ≤ %.3g), Δintercept %.3g (bound %.3g)", fit.C, worst, maxAbs(coef), fit.Intercept[0]-b[0], bound)
			// The training predictions are sklearn's.
			lp := f64s(t, sd, "predict_log_proba_train") // [n, 2]
			for i, c := range fit.Predict(X) {
				want := 0
				if lp[2*i+1] > lp[2*i] {
					want = 1
				}
				if c != want {
					t.Errorf("row %d: predicted %d, sklearn %d", i, c, want)
				}
			}
			pw := 0.0
			for f := range fit.Paths {
				for c := range fit.Paths[f] {
					for j, v := range fit.Paths[f][c] {
						pw = math.Max(pw, math.Abs(v-paths[(f*10+c)*33+j]))
					}
				}
			}
			t.Logf("max |Δ| over the folds' paths %.3g", pw)
		})
	}
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}
