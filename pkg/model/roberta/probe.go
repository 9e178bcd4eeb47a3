package roberta

import (
	"errors"
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
)

// WriteLinearHead writes a linear head, W [C][H] and b [C], into the layer
// that makes the logits, as the reference's LinearHeadTrainer assigns its
// probe (MEZO_SPEC §6):
//
//   - with labelWords (prompt mode): row c of W into row labelWords[c] of
//     lm_head.decoder.weight and b[c] into entry labelWords[c] of
//     lm_head.bias (the decoder's bias); every other row and entry is kept;
//   - without (the bare classifier on <s>, finetune mode): W and b replace
//     classifier.weight and classifier.bias whole.
//
// Values are rounded once from float64 to the parameter dtype, as
// torch.tensor(coef_, dtype=weight.dtype) does. The write records no
// autograd history. A tied decoder (the word embeddings) is refused: the
// write would change the input embeddings too.
func (m *Model) WriteLinearHead(labelWords []int64, W [][]float64, b []float64) error {
	H := m.Config.Hidden
	if len(W) != len(b) || len(W) == 0 {
		return fmt.Errorf("roberta: linear head with %d weight rows and %d biases", len(W), len(b))
	}
	for c, row := range W {
		if len(row) != H {
			return fmt.Errorf("roberta: linear head row %d has %d values, the model's hidden size is %d", c, len(row), H)
		}
	}
	var flat []float64
	for _, row := range W {
		flat = append(flat, row...)
	}
	dev := m.Opts.Device
	sc := torch.NewScope(torch.NoGrad)
	defer sc.Close()
	copyInto := func(dst *torch.Tensor, data []float64, shape ...int64) error {
		src, err := torch.FromFloat64s(data, shape, dev)
		if err != nil {
			return err
		}
		defer src.Close()
		if err := sc.Err(); err != nil {
			return err
		}
		return dst.CopyFrom(src)
	}
	if labelWords == nil {
		if m.cls == nil {
			return fmt.Errorf("roberta: this %s model has no bare linear classifier to write", m.Opts.Head)
		}
		if len(W) != m.Opts.NumLabels {
			return fmt.Errorf("roberta: linear head has %d rows, the classifier %d", len(W), m.Opts.NumLabels)
		}
		return errors.Join(copyInto(m.cls.W, flat, int64(len(W)), int64(H)), copyInto(m.cls.B, b, int64(len(b))))
	}
	if !m.hasLMHead {
		return fmt.Errorf("roberta: this %s model has no LM head to write label-word rows into", m.Opts.Head)
	}
	if m.Opts.tied() {
		return errors.New("roberta: the decoder is tied to the word embeddings; writing label-word rows would change the input embeddings")
	}
	if len(labelWords) != len(W) {
		return fmt.Errorf("roberta: linear head has %d rows for %d label words", len(W), len(labelWords))
	}
	for c, id := range labelWords {
		if id < 0 || id >= int64(m.Config.VocabSize) {
			return fmt.Errorf("roberta: label word %d has id %d, outside the vocabulary of %d", c, id, m.Config.VocabSize)
		}
		if err := copyInto(sc.Narrow(m.decoderW, 0, id, 1), W[c], 1, int64(H)); err != nil {
			return err
		}
		if err := copyInto(sc.Narrow(m.lmBias, 0, id, 1), b[c:c+1], 1); err != nil {
			return err
		}
	}
	return sc.Err()
}
