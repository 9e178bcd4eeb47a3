package metrics

import (
	"fmt"
	"math"
)

// STS-B's label range, bound_mapping["sts-b"] = (0, 5): the lb and ub of the
// reference's regression output.
const (
	STSBLower = 0
	STSBUpper = 5
)

func checkRows(n, width int, what string) (int, error) {
	if width <= 0 {
		return 0, fmt.Errorf("metrics: %s width %d, want ≥ 1", what, width)
	}
	if n%width != 0 {
		return 0, fmt.Errorf("metrics: %d %s values are not rows of %d", n, what, width)
	}
	return n / width, nil
}

// Argmax returns the predicted class of each row of the row-major
// [n, numLabels] logits: the index of the row's first maximal value, the tie
// rule of torch.argmax and np.argmax. A NaN counts as maximal (the first NaN
// wins), as in both. len(logits) must be a multiple of numLabels ≥ 1.
func Argmax(logits []float32, numLabels int) ([]int, error) {
	n, err := checkRows(len(logits), numLabels, "logit")
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := range out {
		row := logits[i*numLabels : (i+1)*numLabels]
		best := 0
		for j, v := range row {
			if math.IsNaN(float64(row[best])) {
				break
			}
			if v > row[best] || math.IsNaN(float64(v)) {
				best = j
			}
		}
		out[i] = best
	}
	return out, nil
}

// AverageSamples is compute_metrics_fn's demonstration averaging: the
// row-major [numSample, n, numLogits] logits (the eval set laid out
// numSample times in a row) reshaped and averaged over the first axis with
// numpy's float32 mean, giving [n, numLogits]. For each output element the
// numSample values are summed in order and divided by numSample; when
// n·numLogits is 1 numpy reduces the one contiguous run pairwise instead,
// and so does this. With numSample 1 the logits come back unchanged (as a
// copy).
func AverageSamples(logits []float32, numSample, numLogits int) ([]float32, error) {
	if numSample <= 0 {
		return nil, fmt.Errorf("metrics: num_sample %d, want ≥ 1", numSample)
	}
	if _, err := checkRows(len(logits), numSample*numLogits, "logit"); err != nil {
		return nil, err
	}
	width := len(logits) / numSample
	if width == 1 {
		return []float32{npMeanFloat32(logits)}, nil
	}
	sum := make([]float32, width)
	for s := range numSample {
		for j, v := range logits[s*width : (s+1)*width] {
			sum[j] += v
		}
	}
	for j := range sum {
		sum[j] = float32(float64(sum[j]) / float64(numSample))
	}
	return sum, nil
}

// RegressionPredictions maps the row-major [n, 2] label-word logits of a
// regression task to the reference's regression output,
// exp(log_softmax(l)[1])·(upper−lower) + lower, in float32 (lower and upper
// are STSBLower and STSBUpper for sts-b). The exp and log are Go's, rounded
// to float32, so a value may differ from torch's CPU kernels in the last
// bit or two.
//
// MeZO computes this output only with --use_task_word. In its default prompt
// mode the model returns the two log-probabilities themselves, so
// compute_metrics_fn takes their argmax and the STS-B "predictions" are 0 or
// 1 (Argmax of the raw logits gives them, unless rounding in log_softmax
// turns a near-tie into a tie).
func RegressionPredictions(logits []float32, lower, upper float32) ([]float32, error) {
	n, err := checkRows(len(logits), 2, "logit")
	if err != nil {
		return nil, err
	}
	exp := func(v float32) float32 { return float32(math.Exp(float64(v))) }
	out := make([]float32, n)
	for i := range out {
		l0, l1 := logits[2*i], logits[2*i+1]
		m := max(l0, l1)
		lse := float32(math.Log(float64(exp(l0-m) + exp(l1-m))))
		out[i] = float32(exp((l1-m)-lse)*(upper-lower)) + lower
	}
	return out, nil
}

// EvalLoss is the eval_loss of HF 4.28.1's legacy prediction_loop, which
// MeZO's evaluate uses: each batch's mean loss is repeated batch_size times,
// the repeats are concatenated and truncated to the number of examples, and
// the float32 array is averaged with numpy's .mean() (pairwise float32
// summation in 8192-element chunks, then a division by n).
//
// batchMeans[i] is batch i's mean loss, batchSizes[i] its number of
// examples. The reference repeats every batch by the dataloader's batch size
// and truncates once at the end, so only the last batch may be short: every
// other batch must have batchSizes[0] examples, and the last at most that.
func EvalLoss(batchMeans []float32, batchSizes []int) (float32, error) {
	if len(batchMeans) != len(batchSizes) {
		return 0, fmt.Errorf("metrics: %d batch losses but %d batch sizes", len(batchMeans), len(batchSizes))
	}
	if len(batchMeans) == 0 {
		return 0, fmt.Errorf("metrics: no batches")
	}
	full := batchSizes[0]
	total := 0
	for i, s := range batchSizes {
		last := i == len(batchSizes)-1
		if s <= 0 || s > full || (!last && s != full) {
			return 0, fmt.Errorf("metrics: batch %d has %d examples; every batch but the last must have %d (the first batch's size) and the last at most that", i, s, full)
		}
		total += s
	}
	losses := make([]float32, 0, total)
	for i, m := range batchMeans {
		for range batchSizes[i] {
			losses = append(losses, m)
		}
	}
	return npMeanFloat32(losses), nil
}
