package metrics

import (
	"fmt"
	"math"
	"slices"
)

// Number is the element type of predictions and labels. The reference hands
// numpy arrays of int64 (argmax predictions, class labels) or float32
// (regression outputs and STS-B labels) to its metrics, and numpy compares
// and converts them by value; so do these functions, through float64.
type Number interface {
	~int | ~int32 | ~int64 | ~float32 | ~float64
}

func checkLengths(preds, labels int) error {
	if preds != labels {
		return fmt.Errorf("metrics: %d predictions but %d labels", preds, labels)
	}
	if preds == 0 {
		return fmt.Errorf("metrics: no examples")
	}
	return nil
}

func float64s[T Number](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Accuracy is simple_accuracy, (preds == labels).mean(): the fraction of the
// n examples whose prediction equals the label, correct/n in float64.
// Predictions and labels must have the same non-zero length.
func Accuracy[P, L Number](preds []P, labels []L) (float64, error) {
	if err := checkLengths(len(preds), len(labels)); err != nil {
		return 0, err
	}
	correct := 0
	for i, p := range preds {
		if float64(p) == float64(labels[i]) {
			correct++
		}
	}
	return float64(correct) / float64(len(preds)), nil
}

// binary returns v as a class of a binary task, or an error naming it.
func binary(what string, i int, v float64) (bool, error) {
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("metrics: f1 is binary (classes 0 and 1); %s[%d] is %v", what, i, v)
}

// F1 is sklearn.metrics.f1_score(y_true=labels, y_pred=preds) with its
// defaults: binary, positive class 1, zero_division "warn" (which scores 0).
// Every value must be 0 or 1 (sklearn also accepts other binary label
// pairs; the reference's tasks never have them).
//
// The value is sklearn 1.2's 2·p·r/(p+r) with precision p = tp/(tp+fp) and
// recall r = tp/(tp+fn), where an empty denominator makes that ratio 0; it is
// 0 when there is no true positive, including when class 1 occurs nowhere.
func F1[P, L Number](preds []P, labels []L) (float64, error) {
	if err := checkLengths(len(preds), len(labels)); err != nil {
		return 0, err
	}
	var tp, predPos, truePos int
	for i := range preds {
		p, err := binary("preds", i, float64(preds[i]))
		if err != nil {
			return 0, err
		}
		l, err := binary("labels", i, float64(labels[i]))
		if err != nil {
			return 0, err
		}
		if p {
			predPos++
		}
		if l {
			truePos++
		}
		if p && l {
			tp++
		}
	}
	var precision, recall float64
	if predPos > 0 {
		precision = float64(tp) / float64(predPos)
	}
	if truePos > 0 {
		recall = float64(tp) / float64(truePos)
	}
	denom := precision + recall
	if denom == 0 {
		return 0, nil
	}
	return 2 * precision * recall / denom, nil
}

// MCC is sklearn.metrics.matthews_corrcoef(labels, preds), the multiclass
// Matthews correlation from the confusion matrix over the classes that occur
// in either argument:
//
//	(c·s − t·p) / sqrt((s² − t·t)(s² − p·p))
//
// with c correct, s samples, t and p the per-class true and predicted
// counts. When the denominator is 0 (every label, or every prediction, is
// one class) it is 0, as sklearn returns. Values must be integral (sklearn
// rejects continuous targets) and not NaN.
func MCC[P, L Number](preds []P, labels []L) (float64, error) {
	if err := checkLengths(len(preds), len(labels)); err != nil {
		return 0, err
	}
	pv, lv := float64s(preds), float64s(labels)
	for i := range pv {
		for _, c := range [2]struct {
			what string
			v    float64
		}{{"preds", pv[i]}, {"labels", lv[i]}} {
			if c.v != math.Trunc(c.v) {
				return 0, fmt.Errorf("metrics: mcc needs class labels; %s[%d] is %v", c.what, i, c.v)
			}
		}
	}
	classes := slices.Concat(pv, lv)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	index := make(map[float64]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	tSum := make([]float64, len(classes))
	pSum := make([]float64, len(classes))
	var nCorrect float64
	for i := range pv {
		ti, pi := index[lv[i]], index[pv[i]]
		tSum[ti]++
		pSum[pi]++
		if ti == pi {
			nCorrect++
		}
	}
	n := float64(len(pv))
	covYtYp := float64(nCorrect*n) - ddot(tSum, pSum)
	covYpYp := float64(n*n) - ddot(pSum, pSum)
	covYtYt := float64(n*n) - ddot(tSum, tSum)
	if covYpYp*covYtYt == 0 {
		return 0, nil
	}
	return covYtYp / math.Sqrt(covYtYt*covYpYp), nil
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	case v == 0:
		return 0
	}
	return math.NaN()
}

func constant(v []float64) bool {
	for _, x := range v {
		if x != v[0] {
			return false
		}
	}
	return true
}

// Pearson is scipy.stats.pearsonr(preds, labels)[0]: the correlation of
// centred values, dot(xm/‖xm‖, ym/‖ym‖) clipped to [−1, 1], in float64.
// It is NaN when either input is constant (scipy warns and returns NaN) or
// holds a NaN, and it needs at least two samples (scipy raises otherwise).
// With exactly two samples it is the product of the signs of the two
// differences, as scipy returns.
func Pearson[P, L Number](preds []P, labels []L) (float64, error) {
	if len(preds) != len(labels) {
		return 0, fmt.Errorf("metrics: %d predictions but %d labels", len(preds), len(labels))
	}
	if len(preds) < 2 {
		return 0, fmt.Errorf("metrics: pearson needs at least 2 samples, got %d", len(preds))
	}
	return pearson(float64s(preds), float64s(labels)), nil
}

func pearson(x, y []float64) float64 {
	if constant(x) || constant(y) {
		return math.NaN()
	}
	if len(x) == 2 {
		return sign(x[1]-x[0]) * sign(y[1]-y[0])
	}
	center := func(v []float64) []float64 {
		mean := npMean(v)
		out := make([]float64, len(v))
		for i, e := range v {
			out[i] = e - mean
		}
		norm := dnrm2(out)
		for i := range out {
			out[i] /= norm
		}
		return out
	}
	r := ddot(center(x), center(y))
	// Python's max(min(r, 1.0), -1.0): a NaN r stays NaN.
	if r > 1 {
		r = 1
	}
	if r < -1 {
		r = -1
	}
	return r
}

// ranks is scipy.stats.rankdata(v) with method "average": 1-based ranks in
// input order, tied values sharing the mean of their positions (a tie over
// sorted positions i..j−1 gets (i+j+1)/2). Values must not be NaN.
func ranks(v []float64) []float64 {
	order := make([]int, len(v))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	out := make([]float64, len(v))
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && v[order[j]] == v[order[i]] {
			j++
		}
		r := 0.5 * float64(i+j+1)
		for _, k := range order[i:j] {
			out[k] = r
		}
		i = j
	}
	return out
}

// Spearman is scipy.stats.spearmanr(preds, labels)[0]: the Pearson
// correlation of the average ranks, computed as numpy's corrcoef does
// (covariances scaled by 1/(n−1), then divided by each standard deviation).
// It is NaN for fewer than two samples, a constant input or a NaN input,
// as scipy returns.
func Spearman[P, L Number](preds []P, labels []L) (float64, error) {
	if len(preds) != len(labels) {
		return 0, fmt.Errorf("metrics: %d predictions but %d labels", len(preds), len(labels))
	}
	return spearman(float64s(preds), float64s(labels)), nil
}

func spearman(x, y []float64) float64 {
	if len(x) <= 1 || constant(x) || constant(y) ||
		slices.ContainsFunc(x, math.IsNaN) || slices.ContainsFunc(y, math.IsNaN) {
		return math.NaN()
	}
	rx, ry := ranks(x), ranks(y)
	// numpy.cov: centre each row on its mean, X·Xᵀ, times 1/(n−1).
	mx, my := npMean(rx), npMean(ry)
	for i := range rx {
		rx[i] -= mx
		ry[i] -= my
	}
	inv := 1 / float64(len(x)-1)
	cxy := float64(ddot(ry, rx) * inv)
	sx := math.Sqrt(float64(ddot(rx, rx) * inv))
	sy := math.Sqrt(float64(ddot(ry, ry) * inv))
	// corrcoef: c /= stddev[:, None]; c /= stddev[None, :]; element [1, 0].
	r := cxy / sy / sx
	if r > 1 {
		r = 1
	}
	if r < -1 {
		r = -1
	}
	return r
}
