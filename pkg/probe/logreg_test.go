package probe_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomezo/gomezo/pkg/probe"
)

// synthetic draws n rows of d features for 3 classes: the class sets a
// small offset along feature 1 − feature 0, hidden under a large shared
// component t in both (so the class means alone, what a strongly
// regularised fit sees, do not separate them), plus d−2 features of pure
// noise. flip is the fraction of labels replaced by random ones.
func synthetic(seed uint64, n, d int, flip float64) ([][]float64, []int) {
	r := rand.New(rand.NewPCG(seed, 1))
	var X [][]float64
	var y []int
	for i := 0; i < n; i++ {
		c := i % 3
		t := 3 * r.NormFloat64()
		x := make([]float64, d)
		x[0] = t + 0.05*r.NormFloat64()
		x[1] = t + 1.5*float64(c) + 0.05*r.NormFloat64()
		for j := 2; j < d; j++ {
			x[j] = r.NormFloat64()
		}
		if r.Float64() < flip {
			c = r.IntN(3)
		}
		X = append(X, x)
		y = append(y, c)
	}
	return X, y
}

func accuracy(f *probe.Fit, X [][]float64, y []int) float64 {
	hit := 0
	for i, c := range f.Predict(X) {
		if c == y[i] {
			hit++
		}
	}
	return float64(hit) / float64(len(y))
}

// TestSeparableReachesFullAccuracy: on a linearly separable set the probe
// classifies every training row.
func TestSeparableReachesFullAccuracy(t *testing.T) {
	X, y := synthetic(1, 90, 12, 0)
	fit, err := probe.FitCV(X, y, probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(fit, X, y); acc != 1 {
		t.Fatalf("training accuracy %v on a separable set (C %v)", acc, fit.C)
	}
	// Binary: the reported single row predicts as the two-row fit.
	var Xb [][]float64
	var yb []int
	for i := range y {
		if y[i] < 2 {
			Xb, yb = append(Xb, X[i]), append(yb, y[i])
		}
	}
	fb, err := probe.FitCV(Xb, yb, probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fb.Coef) != 1 || accuracy(fb, Xb, yb) != 1 {
		t.Fatalf("binary fit: %d rows, accuracy %v", len(fb.Coef), accuracy(fb, Xb, yb))
	}
}

// TestNoisyLabelsPickStrongerRegularisation: with a third of the labels
// randomised, cross-validation picks a smaller C (a stronger L2 penalty)
// than on the clean labels of the same features, for every seed tried.
func TestNoisyLabelsPickStrongerRegularisation(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		X, clean := synthetic(seed, 90, 30, 0)
		_, noisy := synthetic(seed, 90, 30, 0.35)
		fc, err := probe.FitCV(X, clean, probe.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fn, err := probe.FitCV(X, noisy, probe.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: clean C %g, noisy C %g", seed, fc.C, fn.C)
		if !(fn.C < fc.C) {
			t.Errorf("seed %d: noisy labels chose C %g, clean %g: not stronger regularisation", seed, fn.C, fc.C)
		}
	}
}

// TestStratifiedFolds: sklearn's StratifiedKFold(5) assignment of a small
// label vector (computed by hand from its algorithm: per class in order of
// first appearance, blocks of the round-robin allocation).
func TestStratifiedFolds(t *testing.T) {
	y := []int{1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1}
	got, err := probe.StratifiedFolds(y, 5)
	if err != nil {
		t.Fatal(err)
	}
	// Encoded by first appearance: 1 → 0 (7 rows), 0 → 1 (5 rows). Sorted
	// codes 0000000 11111 dealt to 5 folds: fold 0 gets codes[0,5,10] =
	// 0,0,1; fold 1 [1,6,11] = 0,0,1; fold 2 [2,7] = 0,1; fold 3 [3,8] =
	// 0,1; fold 4 [4,9] = 0,1. Class "1" rows get folds 0,0,1,1,2,3,4 and
	// class "0" rows 0,1,2,3,4.
	want := []int{0, 0, 0, 1, 1, 2, 1, 3, 2, 3, 4, 4}
	if !slices.Equal(got, want) {
		t.Fatalf("folds %v, want %v", got, want)
	}
}
