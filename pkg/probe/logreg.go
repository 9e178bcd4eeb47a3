// Package probe is linear probing (MEZO_SPEC §6, the reference's
// LinearHeadTrainer): multinomial logistic regression with an L2 strength
// chosen by cross-validation, as scikit-learn's LogisticRegressionCV fits it
// (Cs = 10 values on logspace(−4, 4), 5-fold StratifiedKFold without
// shuffling, accuracy scoring, L-BFGS, refit on all rows from the folds'
// mean solution at the best C). The minimiser is gonum's L-BFGS with
// scipy's memory (10) and a Moré–Thuente line search with scipy's
// constants, stopped as scipy stops: projected-gradient ∞-norm ≤ tol, or a
// relative decrease ≤ 2.2e-9, or max_iter iterations. Its iterates are not
// scipy's, so coefficients agree to the stopping tolerance, not bit for bit.
//
// Pure Go: no tensors. Not safe for concurrent use of one Options value's
// slices.
package probe

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Options are LogisticRegressionCV's settings the reference passes.
type Options struct {
	// MaxIter and Tol are L-BFGS's iteration limit and gradient tolerance:
	// 5000 and 1e-4 (the reference), or 1000 and 1e-2 with
	// --lp_early_stopping. Zero values mean the reference's.
	MaxIter int
	Tol     float64
	// Cs is the grid of inverse L2 strengths; nil is DefaultCs.
	Cs []float64
	// Folds is the number of cross-validation folds; 0 is 5.
	Folds int
}

// EarlyStopping is the reference's --lp_early_stopping setting.
var EarlyStopping = Options{MaxIter: 1000, Tol: 1e-2}

// WithDefaults fills the zero fields with the reference's values.
func (o Options) WithDefaults() Options {
	if o.MaxIter == 0 {
		o.MaxIter = 5000
	}
	if o.Tol == 0 {
		o.Tol = 1e-4
	}
	if o.Cs == nil {
		o.Cs = DefaultCs
	}
	if o.Folds == 0 {
		o.Folds = 5
	}
	return o
}

// DefaultCs is LogisticRegressionCV's default grid, np.logspace(−4, 4, 10),
// with the values numpy computes (C's pow; Go's math.Pow differs in the
// last bit for some of them, which would change the reported C_).
var DefaultCs = []float64{9.999999999999999e-05, 0.000774263682681127, 0.005994842503189409, 0.046415888336127774,
	0.3593813663804626, 2.782559402207126, 21.54434690031882, 166.81005372000556, 1291.5496650148827, 10000.0}

// Fit is a fitted probe, in scikit-learn's layout.
type Fit struct {
	// Classes is the number of classes K (labels are 0..K−1).
	Classes int
	// Coef [rows][d] and Intercept [rows]: rows is K, or 1 for two classes
	// (the second class's row of the multinomial fit, as sklearn reports).
	Coef      [][]float64
	Intercept []float64
	// C is the chosen inverse strength C_, BestIndex its index in Cs.
	C         float64
	BestIndex int
	Cs        []float64
	// Scores are the folds' test accuracies [folds][Cs].
	Scores [][]float64
	// Paths are the folds' solutions [folds][Cs][rows·(d+1)] (each row:
	// coefficients then intercept), sklearn's coefs_paths_.
	Paths [][][]float64
}

// StratifiedFolds assigns each row a test fold as scikit-learn's
// StratifiedKFold(n_splits, shuffle=False) does: classes in order of first
// appearance, each class's rows in data order dealt in blocks whose sizes
// come from dealing the sorted labels round-robin.
func StratifiedFolds(y []int, nSplits int) ([]int, error) {
	order := map[int]int{} // label → order of first appearance
	var first []int
	for _, v := range y {
		if _, ok := order[v]; !ok {
			order[v] = len(first)
			first = append(first, v)
		}
	}
	// np.unique(y_idx) re-encodes by first appearance after a lexicographic
	// unique: that is the order of first appearance.
	nc := len(first)
	enc := make([]int, len(y))
	counts := make([]int, nc)
	for i, v := range y {
		enc[i] = order[v]
		counts[enc[i]]++
	}
	if slices.Max(counts) < nSplits {
		return nil, fmt.Errorf("probe: %d folds but no class has that many rows (counts %v)", nSplits, counts)
	}
	sorted := slices.Clone(enc)
	slices.Sort(sorted)
	alloc := make([][]int, nSplits) // [fold][class]
	for f := range alloc {
		alloc[f] = make([]int, nc)
		for i := f; i < len(sorted); i += nSplits {
			alloc[f][sorted[i]]++
		}
	}
	folds := make([]int, len(y))
	for k := 0; k < nc; k++ {
		var forClass []int
		for f := 0; f < nSplits; f++ {
			for j := 0; j < alloc[f][k]; j++ {
				forClass = append(forClass, f)
			}
		}
		j := 0
		for i := range y {
			if enc[i] == k {
				folds[i] = forClass[j]
				j++
			}
		}
	}
	return folds, nil
}

// problem is one L2-regularised multinomial fit: rows of X [n, d] with
// labels y in 0..K−1, minimising Σ_i CE_i + ½·λ·‖W‖² (intercepts
// unpenalised), scikit-learn's LinearModelLoss with HalfMultinomialLoss and
// unit sample weights. Parameters are W [K, d+1] row-major, intercept last.
type problem struct {
	X      *mat.Dense
	y      []int
	K, d   int
	lambda float64
	logits *mat.Dense // scratch [n, K]
}

func newProblem(X *mat.Dense, y []int, K int) *problem {
	n, d := X.Dims()
	return &problem{X: X, y: y, K: K, d: d, logits: mat.NewDense(n, K, nil)}
}

// lossGrad evaluates the objective at w and, when grad is non-nil, its
// gradient.
func (p *problem) lossGrad(w, grad []float64) float64 {
	n, _ := p.X.Dims()
	K, d := p.K, p.d
	W := mat.NewDense(K, d+1, w)
	p.logits.Mul(p.X, W.Slice(0, K, 0, d).T())
	if grad != nil {
		for i := range grad {
			grad[i] = 0
		}
	}
	var loss float64
	G := make([]float64, K)
	for i := 0; i < n; i++ {
		row := p.logits.RawRowView(i)
		mx := math.Inf(-1)
		for k := range row {
			row[k] += w[k*(d+1)+d]
			mx = math.Max(mx, row[k])
		}
		sum := 0.0
		for k := range row {
			sum += math.Exp(row[k] - mx)
		}
		lse := mx + math.Log(sum)
		loss += lse - row[p.y[i]]
		if grad == nil {
			continue
		}
		for k := range row {
			G[k] = math.Exp(row[k] - lse)
		}
		G[p.y[i]]--
		x := p.X.RawRowView(i)
		for k := 0; k < K; k++ {
			gk := grad[k*(d+1) : (k+1)*(d+1)]
			floats.AddScaled(gk[:d], G[k], x)
			gk[d] += G[k]
		}
	}
	for k := 0; k < K; k++ {
		wk := w[k*(d+1) : k*(d+1)+d]
		loss += 0.5 * p.lambda * floats.Dot(wk, wk)
		if grad != nil {
			floats.AddScaled(grad[k*(d+1):k*(d+1)+d], p.lambda, wk)
		}
	}
	return loss
}

// minimize runs L-BFGS from w (updated in place) at inverse strength C.
func (p *problem) minimize(w []float64, C float64, o Options) error {
	p.lambda = 1 / C
	pr := optimize.Problem{
		Func: func(x []float64) float64 { return p.lossGrad(x, nil) },
		Grad: func(g, x []float64) { p.lossGrad(x, g) },
	}
	settings := &optimize.Settings{
		GradientThreshold: o.Tol,
		MajorIterations:   o.MaxIter,
		Converger:         &optimize.FunctionConverge{Relative: 2.220446049250313e-09, Iterations: 1},
	}
	method := &optimize.LBFGS{Store: 10, Linesearcher: &optimize.MoreThuente{DecreaseFactor: 1e-3, CurvatureFactor: 0.9}}
	res, err := optimize.Minimize(pr, w, settings, method)
	if res == nil || !floats.Equal(res.X, res.X) {
		return fmt.Errorf("probe: L-BFGS at C=%g: %v", C, err)
	}
	// A line search that can no longer improve (gonum's error, scipy's
	// ABNORMAL_TERMINATION) or the iteration limit ends the fit at the best
	// point found, as scipy's result does (sklearn only warns).
	copy(w, res.X)
	return nil
}

// predict returns the predicted classes of the rows of X under w, as
// scikit-learn's LogisticRegression.predict with coef_ and intercept_ set
// from a path solution: argmax of the K scores, or for two classes the
// second class when the second row's score is positive.
func predict(X *mat.Dense, w []float64, K, d int) []int {
	n, _ := X.Dims()
	out := make([]int, n)
	for i := 0; i < n; i++ {
		x := X.RawRowView(i)
		if K == 2 {
			w1 := w[d+1:]
			if floats.Dot(w1[:d], x)+w1[d] > 0 {
				out[i] = 1
			}
			continue
		}
		best, arg := math.Inf(-1), 0
		for k := 0; k < K; k++ {
			wk := w[k*(d+1):]
			if s := floats.Dot(wk[:d], x) + wk[d]; s > best {
				best, arg = s, k
			}
		}
		out[i] = arg
	}
	return out
}

// reported is the part of a full solution w [K·(d+1)] sklearn reports: for
// two classes the second row only.
func reported(w []float64, K, d int) []float64 {
	if K == 2 {
		return slices.Clone(w[d+1:])
	}
	return slices.Clone(w)
}

// FitCV fits the probe on features X (n rows of d) and labels y in 0..K−1
// (every class present) as LogisticRegressionCV(multi_class="multinomial",
// fit_intercept=True) does; the rows' order fixes the folds.
func FitCV(X [][]float64, y []int, o Options) (*Fit, error) {
	o = o.WithDefaults()
	n := len(X)
	if n == 0 || len(y) != n {
		return nil, fmt.Errorf("probe: %d feature rows and %d labels", n, len(y))
	}
	d := len(X[0])
	K := 0
	for i, v := range y {
		if v < 0 {
			return nil, fmt.Errorf("probe: row %d has label %d", i, v)
		}
		if len(X[i]) != d {
			return nil, fmt.Errorf("probe: row %d has %d features, row 0 %d", i, len(X[i]), d)
		}
		K = max(K, v+1)
	}
	seen := make([]bool, K)
	for _, v := range y {
		seen[v] = true
	}
	if slices.Contains(seen, false) || K < 2 {
		return nil, fmt.Errorf("probe: labels must cover 0..K−1 with K ≥ 2, got %d classes with gaps", K)
	}
	rows := func(idx []int) (*mat.Dense, []int) {
		m := mat.NewDense(len(idx), d, nil)
		ys := make([]int, len(idx))
		for j, i := range idx {
			m.SetRow(j, X[i])
			ys[j] = y[i]
		}
		return m, ys
	}
	folds, err := StratifiedFolds(y, o.Folds)
	if err != nil {
		return nil, err
	}
	fit := &Fit{Classes: K, Cs: o.Cs}
	for f := 0; f < o.Folds; f++ {
		var tr, te []int
		for i, g := range folds {
			if g == f {
				te = append(te, i)
			} else {
				tr = append(tr, i)
			}
		}
		Xtr, ytr := rows(tr)
		Xte, yte := rows(te)
		p := newProblem(Xtr, ytr, K)
		w := make([]float64, K*(d+1))
		var scores []float64
		var path [][]float64
		for _, C := range o.Cs {
			if err := p.minimize(w, C, o); err != nil {
				return nil, err
			}
			hit := 0
			for i, c := range predict(Xte, w, K, d) {
				if c == yte[i] {
					hit++
				}
			}
			scores = append(scores, float64(hit)/float64(len(te)))
			path = append(path, reported(w, K, d))
		}
		fit.Scores = append(fit.Scores, scores)
		fit.Paths = append(fit.Paths, path)
	}
	// The best C maximises the summed fold scores (the first on ties).
	best, bestSum := 0, math.Inf(-1)
	for c := range o.Cs {
		s := 0.0
		for f := range fit.Scores {
			s += fit.Scores[f][c]
		}
		if s > bestSum {
			best, bestSum = c, s
		}
	}
	fit.BestIndex, fit.C = best, o.Cs[best]
	// Refit on every row from the folds' mean solution at the best C.
	init := make([]float64, len(fit.Paths[0][best]))
	for f := range fit.Paths {
		floats.Add(init, fit.Paths[f][best])
	}
	floats.Scale(1/float64(len(fit.Paths)), init)
	w := init
	if K == 2 {
		w = make([]float64, 2*(d+1))
		for j := range init[:d] {
			w[j], w[d+1+j] = -init[j], init[j]
		}
		// sklearn copies only coef.shape[1] = d+1 columns, intercept
		// included, with the same ± rule.
		w[d], w[2*d+1] = -init[d], init[d]
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	Xall, yall := rows(all)
	if err := newProblem(Xall, yall, K).minimize(w, fit.C, o); err != nil {
		return nil, err
	}
	r := reported(w, K, d)
	for k := 0; k < len(r)/(d+1); k++ {
		fit.Coef = append(fit.Coef, r[k*(d+1):k*(d+1)+d])
		fit.Intercept = append(fit.Intercept, r[k*(d+1)+d])
	}
	return fit, nil
}

// Predict returns the fitted probe's classes for the rows of X.
func (f *Fit) Predict(X [][]float64) []int {
	d := len(f.Coef[0])
	w := make([]float64, 0, f.Classes*(d+1))
	if f.Classes == 2 {
		w = append(w, make([]float64, d+1)...)
	}
	for k := range f.Coef {
		w = append(append(w, f.Coef[k]...), f.Intercept[k])
	}
	m := mat.NewDense(len(X), d, nil)
	for i, x := range X {
		m.SetRow(i, x)
	}
	return predict(m, w, f.Classes, d)
}

// HeadRows are the fit as the K rows of a linear head, as the reference's
// LinearHeadTrainer turns coef_ and intercept_ into the label-word rows
// (MEZO_SPEC §6): for two classes sklearn's single row w becomes
// (−w/2, +w/2) and its intercept (−b/2, +b/2); otherwise the K rows as
// they are. Halving is exact in binary floating point, so rounding these
// to float32 equals halving sklearn's rounded values, the reference's
// order. The slices are new.
func (f *Fit) HeadRows() (W [][]float64, b []float64) {
	if f.Classes == 2 && len(f.Coef) == 1 {
		neg, pos := slices.Clone(f.Coef[0]), slices.Clone(f.Coef[0])
		for j := range neg {
			neg[j], pos[j] = -neg[j]/2, pos[j]/2
		}
		return [][]float64{neg, pos}, []float64{-f.Intercept[0] / 2, f.Intercept[0] / 2}
	}
	for _, row := range f.Coef {
		W = append(W, slices.Clone(row))
	}
	return W, slices.Clone(f.Intercept)
}

// Accuracy is the fraction of rows of X whose prediction is y's label.
func (f *Fit) Accuracy(X [][]float64, y []int) float64 {
	hit := 0
	for i, c := range f.Predict(X) {
		if c == y[i] {
			hit++
		}
	}
	return float64(hit) / float64(len(y))
}
