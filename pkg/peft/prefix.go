package peft

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/nn"
)

// PrefixConfig is MeZO's PrefixTuning (src/prefix.py, MEZO_SPEC §3.4).
type PrefixConfig struct {
	// Num is num_prefix, the m key/value vectors per layer.
	Num int
	// InitByRealAct initialises each layer's prefix with the key and value
	// projections of Num random tokens run through the model
	// (prefix_init_by_real_act); otherwise they are N(0, 1).
	InitByRealAct bool
	// InitTokenIDs, when set (Num ids), are the tokens InitByRealAct runs
	// instead of drawing them (replaying a recorded initialisation).
	InitTokenIDs []int64
	// Vocab is the vocabulary size random tokens are drawn from.
	Vocab int
	// Reparam computes each layer's prefixes from one shared embedding
	// [Num, EmbedDim] through a per-layer MLP EmbedDim → MidDim → tanh →
	// Hidden, for keys and for values (the reference's default, which
	// run.py's --no_reparam turns off). It excludes InitByRealAct, as the
	// reference asserts.
	Reparam bool
	// EmbedDim and MidDim are 512 when zero: PrefixTuning's hard defaults.
	EmbedDim, MidDim int
}

// LayerPrefix is one attention block's prefix. Without reparameterisation
// Keys and Values [m, Hidden] are the parameters; with it they are computed
// at every forward pass from Embeds [m, E] (shared by every layer) through
// KeyMLP and ValueMLP. The tensors belong to the ParamSet.
type LayerPrefix struct {
	Keys, Values     *torch.Tensor
	Embeds           *torch.Tensor
	KeyMLP, ValueMLP [2]nn.Linear
	num, heads       int64
	hidden           int64
}

// Effective returns the keys and values [m, Hidden] the attention sees, in s.
func (p *LayerPrefix) Effective(s *torch.Scope) (k, v *torch.Tensor) {
	if p.Embeds == nil {
		return p.Keys, p.Values
	}
	mlp := func(l [2]nn.Linear) *torch.Tensor { return l[1].Forward(s, s.Tanh(l[0].Forward(s, p.Embeds))) }
	return mlp(p.KeyMLP), mlp(p.ValueMLP)
}

// Extend implements KV: the prefix, reshaped head-major to
// [B, heads, m, hd] (the same for every row), goes in front of the keys and
// values, and m zero columns in front of the mask, so every query (padded
// rows included) sees the prefix while padded keys stay masked. Position
// ids are not touched.
func (p *LayerPrefix) Extend(s *torch.Scope, k, v, bias *torch.Tensor) (k2, v2, bias2 *torch.Tensor) {
	shape, err := k.Shape()
	if err != nil {
		s.Fail(err)
		return k, v, bias
	}
	B := shape[0]
	pk, pv := p.Effective(s)
	hd := p.hidden / p.heads
	batch := func(t *torch.Tensor) *torch.Tensor {
		one := s.Permute(s.Reshape(t, 1, p.num, p.heads, hd), 0, 2, 1, 3)
		rows := make([]*torch.Tensor, B)
		for i := range rows {
			rows[i] = one
		}
		return s.Cat(0, rows...)
	}
	zero := s.MulScalar(s.Narrow(bias, 3, 0, 1), 0)
	cols := make([]*torch.Tensor, 0, p.num+1)
	for i := int64(0); i < p.num; i++ {
		cols = append(cols, zero)
	}
	return s.Cat(2, batch(pk), k), s.Cat(2, batch(pv), v), s.Cat(3, append(cols, bias)...)
}

// Prefix is the set of prefixes of a model, bottom layer first.
type Prefix struct {
	Config PrefixConfig
	Layers []*LayerPrefix
	// TokenIDs are the tokens a real-activation initialisation ran.
	TokenIDs []int64
}

// IsPrefixParam reports whether a parameter name is a prefix parameter.
func IsPrefixParam(name string) bool { return strings.Contains(name, ".prefix_") }

// ApplyPrefix gives every site of h a prefix and registers its parameters,
// trainable, before the block's first parameter, named as MeZO's
// PrefixTuning names them: <block>.prefix_keys and .prefix_values, or, with
// Reparam, <block 0>.prefix_input_embeds (listed once, as named_parameters()
// lists a shared Parameter) and <block>.prefix_mlp_{keys,values}.{0,2}.
// {weight,bias}. Random draws come from gen in the reference's order: with
// InitByRealAct the token ids (unless given), then nothing (the reference's
// discarded randn calls are not replayed); without it per layer randn keys
// then values; with Reparam randn embeddings, then per layer the keys MLP
// and the values MLP with PyTorch's default Linear initialisation — from a
// generator seeded as the reference's global one, these are its values bit
// for bit on the CPU.
func ApplyPrefix(h Host, cfg PrefixConfig, gen *torch.Generator) (*Prefix, error) {
	if cfg.Num < 1 {
		return nil, fmt.Errorf("peft: num_prefix must be at least 1, got %d", cfg.Num)
	}
	if cfg.Reparam && cfg.InitByRealAct {
		return nil, errors.New("peft: the reparameterised prefix cannot be initialised by real activations (the reference asserts this too)")
	}
	if cfg.EmbedDim == 0 {
		cfg.EmbedDim = 512
	}
	if cfg.MidDim == 0 {
		cfg.MidDim = 512
	}
	sites := h.Sites()
	if len(sites) == 0 {
		return nil, errors.New("peft: the model has no attention sites for prefixes")
	}
	for _, st := range sites {
		if *st.Prefix != nil {
			return nil, fmt.Errorf("peft: %s already has a prefix", st.Module)
		}
	}
	ps := h.ParamSet()
	w := ps.Get(sites[0].First)
	if w == nil {
		return nil, fmt.Errorf("peft: no parameter %s", sites[0].First)
	}
	dt, err := w.T.DType()
	if err != nil {
		return nil, err
	}
	dev, err := w.T.Device()
	if err != nil {
		return nil, err
	}
	m := int64(cfg.Num)
	out := &Prefix{Config: cfg}
	// draw makes a [shape] tensor from gen on the CPU in float32 (the
	// reference's dtype for its draws), then converts it.
	draw := func(normal bool, bound float64, shape ...int64) (*torch.Tensor, error) {
		t, err := torch.Zeros(shape, torch.Float32, torch.CPU)
		if err != nil {
			return nil, err
		}
		defer t.Close()
		if normal {
			err = gen.FillNormal(t, 0, 1)
		} else {
			err = gen.FillUniform(t, -bound, bound)
		}
		if err != nil {
			return nil, err
		}
		return t.To(dt, dev)
	}
	var keys, values []*torch.Tensor
	freeKV := func() {
		for _, t := range append(keys, values...) {
			t.Close()
		}
		keys, values = nil, nil
	}
	if cfg.InitByRealAct {
		ids := cfg.InitTokenIDs
		if ids == nil {
			if ids, err = drawTokens(gen, cfg.Num, cfg.Vocab); err != nil {
				return nil, err
			}
		}
		if len(ids) != cfg.Num {
			return nil, fmt.Errorf("peft: %d initial prefix tokens for num_prefix %d", len(ids), cfg.Num)
		}
		out.TokenIDs = ids
		if keys, values, err = h.KeyValues(ids); err != nil {
			return nil, fmt.Errorf("peft: prefix initialisation by real activations: %w", err)
		}
		if len(keys) != len(sites) || len(values) != len(sites) {
			freeKV()
			return nil, fmt.Errorf("peft: the model gave %d key and %d value projections for %d layers", len(keys), len(values), len(sites))
		}
	}
	var embeds *torch.Tensor
	linear := func(outF, inF int64) (nn.Linear, error) {
		a := math.Sqrt(5)
		wb := math.Sqrt(3.0) * (math.Sqrt(2.0/(1+a*a)) / math.Sqrt(float64(inF)))
		W, err := draw(false, wb, outF, inF)
		if err != nil {
			return nn.Linear{}, err
		}
		b, err := draw(false, 1/math.Sqrt(float64(inF)), outF)
		if err != nil {
			W.Close()
			return nn.Linear{}, err
		}
		return nn.Linear{W: W, B: b}, nil
	}
	for i, st := range sites {
		lp := &LayerPrefix{num: m, heads: st.Heads, hidden: st.Hidden}
		var named []nn.Param
		switch {
		case cfg.Reparam:
			if i == 0 {
				if embeds, err = draw(true, 0, m, int64(cfg.EmbedDim)); err != nil {
					return nil, err
				}
				named = append(named, nn.Param{Name: st.Module + ".prefix_input_embeds", T: embeds})
			}
			lp.Embeds = embeds
			for _, which := range []string{"keys", "values"} {
				var mlp [2]nn.Linear
				if mlp[0], err = linear(int64(cfg.MidDim), int64(cfg.EmbedDim)); err == nil {
					mlp[1], err = linear(st.Hidden, int64(cfg.MidDim))
				}
				if err != nil {
					return nil, err
				}
				stem := st.Module + ".prefix_mlp_" + which
				named = append(named, nn.Param{Name: stem + ".0.weight", T: mlp[0].W}, nn.Param{Name: stem + ".0.bias", T: mlp[0].B},
					nn.Param{Name: stem + ".2.weight", T: mlp[1].W}, nn.Param{Name: stem + ".2.bias", T: mlp[1].B})
				if which == "keys" {
					lp.KeyMLP = mlp
				} else {
					lp.ValueMLP = mlp
				}
			}
		case cfg.InitByRealAct:
			lp.Keys, lp.Values = keys[i], values[i]
			keys[i], values[i] = nil, nil
		default:
			if lp.Keys, err = draw(true, 0, m, st.Hidden); err != nil {
				return nil, err
			}
			if lp.Values, err = draw(true, 0, m, st.Hidden); err != nil {
				lp.Keys.Close()
				return nil, err
			}
		}
		if !cfg.Reparam {
			named = append(named, nn.Param{Name: st.Module + ".prefix_keys", T: lp.Keys}, nn.Param{Name: st.Module + ".prefix_values", T: lp.Values})
		}
		for j, p := range named {
			if err := ps.InsertBefore(st.First, p.Name, p.T); err != nil {
				for _, q := range named[j:] {
					q.T.Close()
				}
				freeKV()
				return nil, err
			}
		}
		*st.Prefix = lp
		out.Layers = append(out.Layers, lp)
	}
	freeKV()
	return out, nil
}

// drawTokens draws n token ids uniformly from [0, vocab) with gen (the
// whole vocabulary, special tokens included, as the reference's randint
// does; not its stream).
func drawTokens(gen *torch.Generator, n, vocab int) ([]int64, error) {
	if vocab < 1 {
		return nil, fmt.Errorf("peft: vocabulary size %d for drawing prefix tokens", vocab)
	}
	t, err := torch.Zeros([]int64{int64(n)}, torch.Float64, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := gen.FillUniform(t, 0, float64(vocab)); err != nil {
		return nil, err
	}
	u, err := t.Float64s()
	if err != nil {
		return nil, err
	}
	ids := make([]int64, n)
	for i, x := range u {
		ids[i] = min(int64(x), int64(vocab-1))
	}
	return ids, nil
}
