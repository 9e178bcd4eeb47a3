// Package batch is the one host batch type: a collated batch of encoded
// examples as plain Go slices, what the data layer produces (lmbff.Collate)
// and the objective layer copies to a device. Pure Go.
package batch

import "fmt"

// Batch is B rows padded to one length L: the reference's
// MyDataCollatorWithPadding output (right padding with the pad id,
// attention mask 0 there), or a candidate batch for a decoder (OptionLen
// set: large_models' left-padded prompt+option rows, one row per candidate
// of each example).
type Batch struct {
	// Size is the number of rows (B); Len the padded length (L).
	Size, Len int
	// InputIDs and AttentionMask are B×L, row-major.
	InputIDs      []int64
	AttentionMask []int64
	// MaskPos is the <mask> index of each row (B); nil when no row has a
	// mask (finetune mode).
	MaskPos []int64
	// Labels are the label indices (B); -1 where a row has none. In a
	// candidate batch with NumOptions, one per example: the index of its
	// correct candidate among its rows.
	Labels []int64
	// Targets are the regression labels (B); nil when every row has a
	// class label.
	Targets []float32
	// Index, when set, holds each row's example index in its data set (B):
	// which examples a training step saw.
	Index []int
	// OptionLen marks a candidate batch: the number of option tokens that
	// end each row (B); nil otherwise.
	OptionLen []int
	// NumOptions groups consecutive rows of a candidate batch into
	// examples; nil means every row is its own example.
	NumOptions []int
}

// Candidate reports whether b is a candidate batch.
func (b *Batch) Candidate() bool { return b.OptionLen != nil }

// Groups returns each example's first row and row count: NumOptions's
// groups, or one row per example without them.
func (b *Batch) Groups() [][2]int {
	if b.NumOptions == nil {
		out := make([][2]int, b.Size)
		for i := range out {
			out[i] = [2]int{i, 1}
		}
		return out
	}
	var out [][2]int
	start := 0
	for _, k := range b.NumOptions {
		out = append(out, [2]int{start, k})
		start += k
	}
	return out
}

// Row returns row i of InputIDs, or nil when i is out of range.
func (b *Batch) Row(i int) []int64 {
	if i < 0 || i >= b.Size || (i+1)*b.Len > len(b.InputIDs) {
		return nil
	}
	return b.InputIDs[i*b.Len : (i+1)*b.Len]
}

// Validate checks that the slices agree with Size and Len.
func (b *Batch) Validate() error {
	n := b.Size * b.Len
	switch {
	case b.Size <= 0 || b.Len <= 0:
		return fmt.Errorf("batch: %d×%d is empty", b.Size, b.Len)
	case len(b.InputIDs) != n || len(b.AttentionMask) != n:
		return fmt.Errorf("batch: %d×%d with %d ids and %d mask values", b.Size, b.Len, len(b.InputIDs), len(b.AttentionMask))
	case b.MaskPos != nil && len(b.MaskPos) != b.Size:
		return fmt.Errorf("batch: %d rows but %d mask positions", b.Size, len(b.MaskPos))
	case b.Labels != nil && len(b.Labels) != b.Size && b.NumOptions == nil:
		return fmt.Errorf("batch: %d rows but %d labels", b.Size, len(b.Labels))
	case b.Targets != nil && len(b.Targets) != b.Size:
		return fmt.Errorf("batch: %d rows but %d regression targets", b.Size, len(b.Targets))
	case b.Index != nil && len(b.Index) != b.Size:
		return fmt.Errorf("batch: %d rows but %d example indices", b.Size, len(b.Index))
	}
	if b.OptionLen != nil {
		if err := b.validateCandidates(); err != nil {
			return err
		}
	}
	for i, p := range b.MaskPos {
		if p < 0 || p >= int64(b.Len) {
			return fmt.Errorf("batch: row %d: mask position %d outside its %d tokens", i, p, b.Len)
		}
	}
	return nil
}

// validateCandidates checks a candidate batch's option lengths, groups and
// per-example labels.
func (b *Batch) validateCandidates() error {
	if b.Len < 2 || len(b.OptionLen) != b.Size {
		return fmt.Errorf("batch: candidate batch %d×%d has %d option lengths", b.Size, b.Len, len(b.OptionLen))
	}
	for i, k := range b.OptionLen {
		if k < 1 || k > b.Len-1 {
			return fmt.Errorf("batch: row %d: option length %d outside [1, %d]", i, k, b.Len-1)
		}
	}
	if b.NumOptions != nil {
		sum := 0
		for e, k := range b.NumOptions {
			if k < 1 {
				return fmt.Errorf("batch: example %d has %d options", e, k)
			}
			sum += k
		}
		if sum != b.Size {
			return fmt.Errorf("batch: num_options add up to %d rows, the batch has %d", sum, b.Size)
		}
	}
	if b.Labels != nil {
		groups := b.Groups()
		if len(b.Labels) != len(groups) {
			return fmt.Errorf("batch: %d labels for %d examples", len(b.Labels), len(groups))
		}
		for e, l := range b.Labels {
			if l < 0 || l >= int64(groups[e][1]) {
				return fmt.Errorf("batch: example %d: label %d outside its %d options", e, l, groups[e][1])
			}
		}
	}
	return nil
}
