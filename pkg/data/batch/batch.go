// Package batch is the one host batch type: a collated batch of encoded
// examples as plain Go slices, what the data layer produces (lmbff.Collate)
// and the objective layer copies to a device. Pure Go.
package batch

import "fmt"

// Batch is B rows padded to one length L: the reference's
// MyDataCollatorWithPadding output (right padding with the pad id,
// attention mask 0 there).
type Batch struct {
	// Size is the number of rows (B); Len the padded length (L).
	Size, Len int
	// InputIDs and AttentionMask are B×L, row-major.
	InputIDs      []int64
	AttentionMask []int64
	// MaskPos is the <mask> index of each row (B); nil when no row has a
	// mask (finetune mode).
	MaskPos []int64
	// Labels are the label indices (B); -1 where a row has none.
	Labels []int64
	// Targets are the regression labels (B); nil when every row has a
	// class label.
	Targets []float32
	// Index, when set, holds each row's example index in its data set (B):
	// which examples a training step saw.
	Index []int
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
	case b.Labels != nil && len(b.Labels) != b.Size:
		return fmt.Errorf("batch: %d rows but %d labels", b.Size, len(b.Labels))
	case b.Targets != nil && len(b.Targets) != b.Size:
		return fmt.Errorf("batch: %d rows but %d regression targets", b.Size, len(b.Targets))
	case b.Index != nil && len(b.Index) != b.Size:
		return fmt.Errorf("batch: %d rows but %d example indices", b.Size, len(b.Index))
	}
	for i, p := range b.MaskPos {
		if p < 0 || p >= int64(b.Len) {
			return fmt.Errorf("batch: row %d: mask position %d outside its %d tokens", i, p, b.Len)
		}
	}
	return nil
}
