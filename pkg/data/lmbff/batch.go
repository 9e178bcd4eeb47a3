package lmbff

import (
	"errors"
	"fmt"

	"github.com/gomezo/gomezo/pkg/data/batch"
)

// Collate pads features to the longest one (into the one host batch type) (dynamic padding, pad on the
// right with padID, attention mask 0 there) and gathers mask positions and
// labels. The features must agree on having a mask or not.
func Collate(fs []Feature, padID int) (batch.Batch, error) {
	if len(fs) == 0 {
		return batch.Batch{}, errors.New("lmbff: empty batch")
	}
	b := batch.Batch{Size: len(fs)}
	hasMask := fs[0].MaskPos >= 0
	regression := false
	for i, f := range fs {
		if len(f.InputIDs) != len(f.AttentionMask) {
			return batch.Batch{}, fmt.Errorf("lmbff: batch row %d: %d ids but %d mask entries", i, len(f.InputIDs), len(f.AttentionMask))
		}
		if (f.MaskPos >= 0) != hasMask {
			return batch.Batch{}, fmt.Errorf("lmbff: batch row %d: mixes rows with and without <mask>", i)
		}
		if f.MaskPos >= len(f.InputIDs) {
			return batch.Batch{}, fmt.Errorf("lmbff: batch row %d: mask position %d beyond its %d tokens", i, f.MaskPos, len(f.InputIDs))
		}
		b.Len = max(b.Len, len(f.InputIDs))
		regression = regression || f.LabelID < 0
	}
	b.InputIDs = make([]int64, b.Size*b.Len)
	b.AttentionMask = make([]int64, b.Size*b.Len)
	b.Labels = make([]int64, b.Size)
	if hasMask {
		b.MaskPos = make([]int64, b.Size)
	}
	if regression {
		b.Targets = make([]float32, b.Size)
	}
	for i, f := range fs {
		row := b.InputIDs[i*b.Len : (i+1)*b.Len]
		mask := b.AttentionMask[i*b.Len : (i+1)*b.Len]
		for j := range row {
			if j < len(f.InputIDs) {
				row[j], mask[j] = int64(f.InputIDs[j]), int64(f.AttentionMask[j])
			} else {
				row[j] = int64(padID)
			}
		}
		b.Labels[i] = int64(f.LabelID)
		if hasMask {
			b.MaskPos[i] = int64(f.MaskPos)
		}
		if regression {
			b.Targets[i] = float32(f.Target)
		}
	}
	return b, nil
}

// Sampler cuts an epoch of n examples into batches: in a random order drawn
// from Perm (one Perm.Permutation(n) per epoch), or in order when Perm is
// nil. The order is deterministic for a seeded Perm. The reference's
// RandomSampler draws torch.randperm from its own generator; a Permuter
// doing that reproduces its order. Perm must not be the generator that
// feeds Dataset.Get and the step seeds, which the reference keeps separate.
type Sampler struct {
	N, BatchSize int
	// DropLast drops a last batch smaller than BatchSize (the reference
	// keeps it).
	DropLast bool
	Perm     Permuter
}

// Epoch returns the next epoch's batches of example indices.
func (s *Sampler) Epoch() ([][]int, error) {
	if s.N <= 0 || s.BatchSize <= 0 {
		return nil, fmt.Errorf("lmbff: sampler needs positive size and batch size (got %d, %d)", s.N, s.BatchSize)
	}
	var order []int
	if s.Perm != nil {
		order = s.Perm.Permutation(s.N)
		if len(order) != s.N {
			return nil, fmt.Errorf("lmbff: permuter returned %d indices for %d examples", len(order), s.N)
		}
	} else {
		order = make([]int, s.N)
		for i := range order {
			order[i] = i
		}
	}
	var out [][]int
	for start := 0; start < s.N; start += s.BatchSize {
		end := min(start+s.BatchSize, s.N)
		if end-start < s.BatchSize && s.DropLast {
			break
		}
		out = append(out, order[start:end])
	}
	return out, nil
}

// MeanOverSamples averages the logits of a prompt-demo dev or test Dataset
// over its demonstration draws, as the reference's compute_metrics_fn does
// (predictions.reshape([num_sample, -1, num_logits]).mean(axis=0)): logits
// holds one row of numLogits per feature in Dataset order (sample-major),
// and the result one row per query example. The sums run in float32 in
// sample order, then divide by numSample.
func MeanOverSamples(logits []float32, numSample, numLogits int) ([]float32, error) {
	if numSample <= 0 || numLogits <= 0 || len(logits)%(numSample*numLogits) != 0 {
		return nil, fmt.Errorf("lmbff: %d logits do not split into %d samples of rows of %d", len(logits), numSample, numLogits)
	}
	per := len(logits) / numSample
	out := make([]float32, per)
	for s := range numSample {
		for i, v := range logits[s*per : (s+1)*per] {
			out[i] += v
		}
	}
	for i := range out {
		out[i] /= float32(numSample)
	}
	return out, nil
}
