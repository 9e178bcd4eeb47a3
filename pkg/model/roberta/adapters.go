package roberta

import (
	"errors"
	"strconv"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/peft"
)

// The model is a peft.Host: LoRA and prefix tuning attach to it.
var _ peft.Host = (*Model)(nil)

// ParamSet is the model's parameter set (peft.Host).
func (m *Model) ParamSet() *nn.ParamSet { return m.Params }

// Sites describes every layer's self-attention to the adapters
// (peft.Host): prefixes belong to roberta.encoder.layer.N.attention (MeZO
// registers them on RobertaAttention), LoRA adapts …attention.self.query
// and …attention.self.value.
func (m *Model) Sites() []peft.Site {
	out := make([]peft.Site, len(m.layers))
	for l := range m.layers {
		ly := &m.layers[l]
		p := "roberta.encoder.layer." + strconv.Itoa(l) + ".attention"
		out[l] = peft.Site{
			Module: p, First: p + ".self.query.weight",
			Query:  peft.Slot{Name: p + ".self.query", Module: &ly.query},
			Value:  peft.Slot{Name: p + ".self.value", Module: &ly.value},
			Prefix: &ly.prefix, Hidden: int64(m.Config.Hidden), Heads: int64(m.Config.Heads),
		}
	}
	return out
}

// KeyValues runs the backbone on ids [1, n] with every token attended and
// positions as Hugging Face computes them (a pad id gets the pad position),
// without a graph, and returns each layer's key and value projections
// [n, H], bias included (peft.Host). Prefixes already attached are not
// applied, so this is the model MeZO's real-activation initialisation runs.
func (m *Model) KeyValues(ids []int64) (keys, values []*torch.Tensor, err error) {
	if len(ids) == 0 {
		return nil, nil, errors.New("roberta: KeyValues needs at least one token")
	}
	saved := make([]peft.KV, len(m.layers))
	for l := range m.layers {
		saved[l], m.layers[l].prefix = m.layers[l].prefix, nil
	}
	defer func() {
		for l := range m.layers {
			m.layers[l].prefix = saved[l]
		}
	}()
	// NoGrad rather than Inference: the results become parameters, and
	// inference-mode tensors could not take part in a backward pass.
	s := torch.NewScope(torch.NoGrad)
	defer s.Close()
	n := int64(len(ids))
	ones := make([]int64, n)
	for i := range ones {
		ones[i] = 1
	}
	in := Inputs{InputIDs: s.FromInt64s(ids, []int64{1, n}, m.Opts.Device), AttentionMask: s.FromInt64s(ones, []int64{1, n}, m.Opts.Device)}
	enc := m.Encode(s, in, ForwardOptions{keyValues: true})
	for l := range enc.keys {
		keys = append(keys, s.Keep(s.Contiguous(s.Reshape(enc.keys[l], n, int64(m.Config.Hidden)))))
		values = append(values, s.Keep(s.Contiguous(s.Reshape(enc.values[l], n, int64(m.Config.Hidden)))))
	}
	if err := s.Err(); err != nil {
		for _, t := range append(keys, values...) {
			t.Close()
		}
		return nil, nil, err
	}
	return keys, values, nil
}
