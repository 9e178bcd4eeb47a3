package opt

import (
	"errors"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/peft"
)

// The model is a peft.Host: LoRA and prefix tuning attach to it.
var _ peft.Host = (*Model)(nil)

// ParamSet is the model's parameter set (peft.Host).
func (m *Model) ParamSet() *nn.ParamSet { return m.Params }

// Sites describes every layer's self-attention to the adapters
// (peft.Host). Prefixes belong to model.decoder.layers.N.self_attn (MeZO's
// large_models PrefixTuning injects into the modules whose name ends in
// "attn"), registered before its first parameter, k_proj.weight; LoRA
// adapts …self_attn.q_proj and …self_attn.v_proj (large_models' lora.py).
func (m *Model) Sites() []peft.Site {
	out := make([]peft.Site, len(m.layers))
	for l := range m.layers {
		ly := &m.layers[l]
		p := LayerPrefix(l) + "self_attn"
		out[l] = peft.Site{
			Module: p, First: p + ".k_proj.weight",
			Query:  peft.Slot{Name: p + ".q_proj", Module: &ly.query},
			Value:  peft.Slot{Name: p + ".v_proj", Module: &ly.value},
			Prefix: &ly.prefix, Hidden: int64(m.Config.Hidden), Heads: int64(m.Config.Heads),
		}
	}
	return out
}

// KeyValues runs the decoder on ids [1, n] with every token attended
// (positions 2…n+1), without a graph and without any prefix already
// attached, and returns each layer's key and value projections [n, Hidden],
// bias included: the past_key_values large_models' real-activation prefix
// initialisation reads (peft.Host).
func (m *Model) KeyValues(ids []int64) (keys, values []*torch.Tensor, err error) {
	if len(ids) == 0 {
		return nil, nil, errors.New("opt: KeyValues needs at least one token")
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
	// NoGrad rather than Inference: the results become parameters.
	s := torch.NewScope(torch.NoGrad)
	defer s.Close()
	n := int64(len(ids))
	ones := make([]int64, n)
	for i := range ones {
		ones[i] = 1
	}
	in := Inputs{InputIDs: s.FromInt64s(ids, []int64{1, n}, m.Opts.Device), AttentionMask: s.FromInt64s(ones, []int64{1, n}, m.Opts.Device)}
	dec := m.Decode(s, in, ForwardOptions{keyValues: true})
	H := int64(m.Config.Hidden)
	for l := range dec.keys {
		keys = append(keys, s.Keep(s.Contiguous(s.Reshape(dec.keys[l], n, H))))
		values = append(values, s.Keep(s.Contiguous(s.Reshape(dec.values[l], n, H))))
	}
	if err := s.Err(); err != nil {
		for _, t := range append(keys, values...) {
			t.Close()
		}
		return nil, nil, err
	}
	return keys, values, nil
}
