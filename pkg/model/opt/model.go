// Package opt is OPT over libtorch, written in Go: Hugging Face's
// OPTForCausalLM (transformers 4.28), the decoder MeZO's large_models trains.
// Learned positions with the offset of 2 computed from the attention mask
// (so left padding works), pre- or post-LayerNorm per do_layer_norm_before,
// ReLU MLP, a causal attention with padding masks, the output embedding tied
// to the input one (unless tie_word_embeddings is false), and project_in /
// project_out when word_embed_proj_dim differs from hidden_size.
//
// Parameters live in an nn.ParamSet in the order PyTorch's
// named_parameters() gives for OPTForCausalLM (the tied lm_head.weight is
// not listed, as PyTorch does not list it), which fixes the order the MeZO
// z stream is drawn in. A Model is not safe for concurrent use: one
// goroutine runs its forward passes.
package opt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/peft"
)

// PositionOffset is OPTLearnedPositionalEmbedding's offset: row
// position+2 holds position. The embedding has max_position_embeddings+2
// rows.
const PositionOffset = 2

// Options configure a model.
type Options struct {
	DType  torch.DType  // parameter dtype; zero value means Float32
	Device torch.Device // default CPU
	// InitSeed seeds the initialisation of New: weights N(0, init_std),
	// biases 0, LayerNorm (1, 0), per-tensor seeds InitSeed + index.
	InitSeed uint64
}

func (o Options) withDefaults() Options {
	if o.DType == 0 {
		o.DType = torch.Float32
	}
	return o
}

func (o Options) validate() error {
	if !o.DType.IsFloat() {
		return fmt.Errorf("opt: dtype %v is not a floating-point type", o.DType)
	}
	if !o.Device.CUDA && (o.DType == torch.Float16 || o.DType == torch.BFloat16) {
		return fmt.Errorf("opt: %v needs a CUDA device: on the CPU use float32 or float64 (libtorch 1.13 lacks CPU kernels for half-precision ops)", o.DType)
	}
	return nil
}

// Config holds the architecture numbers of an OPT checkpoint.
type Config struct {
	VocabSize, Hidden, Layers, Heads, FFN int
	// EmbedDim is word_embed_proj_dim: the width of the token embeddings
	// and of the LM head; project_in/out map it to and from Hidden when it
	// differs.
	EmbedDim     int
	MaxPositions int // max_position_embeddings (the table has 2 more rows)
	PadID        int
	BOSID, EOSID int
	// PreLN is do_layer_norm_before: LayerNorm before each sublayer (and a
	// final LayerNorm) rather than after.
	PreLN bool
	// FinalLN is whether decoder.final_layer_norm exists: PreLN and not
	// _remove_final_layer_norm.
	FinalLN bool
	// Affine is layer_norm_elementwise_affine: LayerNorms have weight and
	// bias.
	Affine bool
	// Bias is enable_bias: the attention and MLP Linears have biases.
	Bias             bool
	Activation       string // relu or gelu
	Tied             bool   // tie_word_embeddings
	Dropout          float64
	AttentionDropout float64
	InitStd          float64
}

// LayerNormEps is nn.LayerNorm's default, which OPT uses.
const LayerNormEps = 1e-5

// ConfigFrom validates an HF config as an OPT this package can run.
func ConfigFrom(c *hf.Config) (Config, error) {
	var errs []string
	if c.ModelType != "opt" {
		errs = append(errs, fmt.Sprintf("model_type %q is not opt", c.ModelType))
	}
	switch c.ActivationFunction {
	case "relu", "gelu":
	default:
		errs = append(errs, fmt.Sprintf("activation_function %q: only \"relu\" (OPT's) and the exact \"gelu\" are supported", c.ActivationFunction))
	}
	if c.LayerDrop != 0 {
		errs = append(errs, fmt.Sprintf("layerdrop %v: only 0 is supported", c.LayerDrop))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"ffn_dim", c.FFNDim},
		{"max_position_embeddings", c.MaxPositionEmbeddings}, {"word_embed_proj_dim", c.WordEmbedProjDim}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive, got %d", f.name, f.v))
		}
	}
	if c.NumAttentionHeads > 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		errs = append(errs, fmt.Sprintf("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads))
	}
	if c.PadTokenID < 0 || (c.VocabSize > 0 && c.PadTokenID >= c.VocabSize) {
		errs = append(errs, fmt.Sprintf("pad_token_id %d is outside the vocabulary of %d", c.PadTokenID, c.VocabSize))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("opt: config: %s", strings.Join(errs, "; "))
	}
	cfg := Config{
		VocabSize: c.VocabSize, Hidden: c.HiddenSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
		FFN: c.FFNDim, EmbedDim: c.WordEmbedProjDim, MaxPositions: c.MaxPositionEmbeddings,
		PadID: c.PadTokenID, BOSID: c.BOSTokenID, EOSID: c.EOSTokenID,
		PreLN: c.DoLayerNormBefore, FinalLN: c.DoLayerNormBefore && !c.RemoveFinalLayerNorm,
		Affine: c.LayerNormElementwiseAffine, Bias: c.EnableBias, Activation: c.ActivationFunction,
		Tied: c.TieWordEmbeddings, Dropout: c.Dropout, AttentionDropout: c.AttentionDropout, InitStd: c.InitStd,
	}
	if cfg.InitStd == 0 {
		cfg.InitStd = 0.02
	}
	return cfg, nil
}

// Projected reports whether the model has project_in and project_out.
func (c Config) Projected() bool { return c.EmbedDim != c.Hidden }

type layer struct {
	// query and value are slots an adapter may fill (peft.LoRALinear);
	// they start as the plain Linear.
	query, value nn.Module
	key, out     nn.Linear
	attnLN       nn.LayerNorm // self_attn_layer_norm
	fc1, fc2     nn.Linear
	ffnLN        nn.LayerNorm // final_layer_norm of the layer
	prefix       peft.KV      // nil unless prefix-tuned
}

// Model is an OPTForCausalLM. Close frees its parameters.
type Model struct {
	Config Config
	Opts   Options
	Params *nn.ParamSet

	tokEmb, posEmb  *torch.Tensor
	projIn, projOut *nn.Linear // nil unless Config.Projected()
	finalLN         *nn.LayerNorm
	layers          []layer
	lmW             *torch.Tensor // tokEmb when tied
	// causal caches MaskBias's causal masks (freed by Close).
	causal map[causalKey]*torch.Tensor
}

type spec struct {
	name  string
	shape []int64
	init  initKind
}

type initKind int

const (
	initNormal initKind = iota
	initZero
	initOne
)

// Prefix of every decoder parameter name.
const decoderPrefix = "model.decoder."

// LayerPrefix returns the parameter-name stem of decoder layer l.
func LayerPrefix(l int) string { return decoderPrefix + "layers." + strconv.Itoa(l) + "." }

// specs lists the parameters of a model of cfg in the order PyTorch's
// named_parameters() yields them for OPTForCausalLM.
func specs(cfg Config) []spec {
	H, V, F, E := int64(cfg.Hidden), int64(cfg.VocabSize), int64(cfg.FFN), int64(cfg.EmbedDim)
	var out []spec
	add := func(name string, init initKind, shape ...int64) {
		out = append(out, spec{name: name, shape: shape, init: init})
	}
	linear := func(prefix string, o, i int64) {
		add(prefix+".weight", initNormal, o, i)
		if cfg.Bias {
			add(prefix+".bias", initZero, o)
		}
	}
	layerNorm := func(prefix string, n int64) {
		if cfg.Affine {
			add(prefix+".weight", initOne, n)
			add(prefix+".bias", initZero, n)
		}
	}
	add(decoderPrefix+"embed_tokens.weight", initNormal, V, E)
	add(decoderPrefix+"embed_positions.weight", initNormal, int64(cfg.MaxPositions+PositionOffset), H)
	if cfg.Projected() {
		add(decoderPrefix+"project_out.weight", initNormal, E, H)
		add(decoderPrefix+"project_in.weight", initNormal, H, E)
	}
	if cfg.FinalLN {
		layerNorm(decoderPrefix+"final_layer_norm", H)
	}
	for l := 0; l < cfg.Layers; l++ {
		p := LayerPrefix(l)
		linear(p+"self_attn.k_proj", H, H)
		linear(p+"self_attn.v_proj", H, H)
		linear(p+"self_attn.q_proj", H, H)
		linear(p+"self_attn.out_proj", H, H)
		layerNorm(p+"self_attn_layer_norm", H)
		linear(p+"fc1", F, H)
		linear(p+"fc2", H, F)
		layerNorm(p+"final_layer_norm", H)
	}
	if !cfg.Tied {
		add("lm_head.weight", initNormal, V, E)
	}
	return out
}

// wire points the model's modules at the registered tensors.
func (m *Model) wire() error {
	get := func(name string) *torch.Tensor {
		if p := m.Params.Get(name); p != nil {
			return p.T
		}
		return nil
	}
	lin := func(prefix string) nn.Linear { return nn.Linear{W: get(prefix + ".weight"), B: get(prefix + ".bias")} }
	ln := func(prefix string) nn.LayerNorm {
		return nn.LayerNorm{W: get(prefix + ".weight"), B: get(prefix + ".bias"), Eps: LayerNormEps}
	}
	m.tokEmb = get(decoderPrefix + "embed_tokens.weight")
	m.posEmb = get(decoderPrefix + "embed_positions.weight")
	if m.Config.Projected() {
		pi, po := lin(decoderPrefix+"project_in"), lin(decoderPrefix+"project_out")
		m.projIn, m.projOut = &pi, &po
	}
	if m.Config.FinalLN {
		f := ln(decoderPrefix + "final_layer_norm")
		m.finalLN = &f
	}
	m.layers = make([]layer, m.Config.Layers)
	for l := range m.layers {
		p := LayerPrefix(l)
		m.layers[l] = layer{
			query: lin(p + "self_attn.q_proj"), key: lin(p + "self_attn.k_proj"),
			value: lin(p + "self_attn.v_proj"), out: lin(p + "self_attn.out_proj"),
			attnLN: ln(p + "self_attn_layer_norm"), fc1: lin(p + "fc1"), fc2: lin(p + "fc2"),
			ffnLN: ln(p + "final_layer_norm"),
		}
	}
	m.lmW = m.tokEmb
	if !m.Config.Tied {
		m.lmW = get("lm_head.weight")
	}
	for _, p := range m.Params.All() {
		if p.T == nil {
			return fmt.Errorf("opt: parameter %s not set", p.Name)
		}
	}
	return nil
}

// Close frees the model's parameters and cached masks.
func (m *Model) Close() error {
	if m == nil || m.Params == nil {
		return nil
	}
	var errs []error
	for k, t := range m.causal {
		errs = append(errs, t.Close())
		delete(m.causal, k)
	}
	return errors.Join(append(errs, m.Params.Close())...)
}

// New builds a randomly initialised model (no checkpoint): weights
// N(0, init_std), biases 0, LayerNorm (1, 0), from generators seeded with
// opts.InitSeed plus the parameter's index.
func New(c *hf.Config, opts Options) (*Model, error) {
	cfg, err := ConfigFrom(c)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return build(cfg, opts, "opt: init", func(i int, sp spec) (*torch.Tensor, error) {
		return initTensor(sp, opts, cfg.InitStd, opts.InitSeed+uint64(i))
	})
}

// build registers every parameter of specs(cfg), in order, with the tensor
// newTensor returns for it, and wires the modules. On error everything made
// so far is freed; errors are prefixed with where.
func build(cfg Config, opts Options, where string, newTensor func(i int, sp spec) (*torch.Tensor, error)) (*Model, error) {
	m := &Model{Config: cfg, Opts: opts, Params: nn.NewParamSet()}
	for i, sp := range specs(cfg) {
		t, err := newTensor(i, sp)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("%s: %s: %w", where, sp.name, err)
		}
		if err := m.Params.Add(sp.name, t); err != nil {
			t.Close()
			m.Close()
			return nil, err
		}
	}
	if err := m.wire(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func initTensor(sp spec, opts Options, std float64, seed uint64) (*torch.Tensor, error) {
	switch sp.init {
	case initZero:
		return torch.Zeros(sp.shape, opts.DType, opts.Device)
	case initOne:
		return torch.Ones(sp.shape, opts.DType, opts.Device)
	}
	z, err := torch.Randn(sp.shape, seed, opts.DType, opts.Device)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	s := torch.NewScope(torch.NoGrad)
	defer s.Close()
	w := s.Keep(s.MulScalar(z, std))
	return w, s.Err()
}
