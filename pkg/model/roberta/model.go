// Package roberta is RoBERTa over libtorch, written in Go: the backbone of
// Hugging Face's RobertaModel and the heads MeZO uses — the masked-LM head,
// MeZO's prompt head (the LM head at each row's <mask>, restricted to the
// label words) and the sequence-classification head (finetune mode).
//
// Parameters live in an nn.ParamSet in the order PyTorch's
// named_parameters() gives for the matching Hugging Face / MeZO class, which
// fixes the order the MeZO z stream is drawn in. A Model is not safe for
// concurrent use: one goroutine runs its forward passes.
package roberta

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/peft"
)

// Head selects which model class is built around the backbone.
type Head string

const (
	// MaskedLM is HF RobertaForMaskedLM: no pooler, the LM head, decoder
	// tied to the word embeddings by default.
	MaskedLM Head = "mlm"
	// Prompt is MeZO's RobertaModelForPromptFinetuning: backbone with
	// pooler, the LM head with an untied decoder by default, and a
	// classifier Linear(hidden, labels) that only linear probing uses.
	Prompt Head = "prompt"
	// SeqCls is HF RobertaForSequenceClassification: no pooler, the head
	// dense → tanh → out_proj on <s>.
	SeqCls Head = "seqcls"
)

// Tying chooses whether the LM head's decoder shares the word embeddings.
type Tying int

const (
	// TieDefault: tied for MaskedLM (HF), untied for Prompt (the reference
	// copies the embeddings into its own decoder and trains both).
	TieDefault Tying = iota
	Tied
	Untied
)

// Options configure a model.
type Options struct {
	Head      Head
	NumLabels int // Prompt (classifier rows) and SeqCls (out_proj rows); default 2
	Tying     Tying
	DType     torch.DType  // parameter dtype; zero value means Float32
	Device    torch.Device // default CPU
	// InitSeed seeds the initialisation of tensors the model makes itself:
	// those a checkpoint lacks (pooler, classifier) or all of them for New.
	// Weights are N(0, initializer_range), biases 0, LayerNorm (1, 0).
	InitSeed uint64
	// ReferenceInit initialises a prompt model's missing pooler and
	// classifier as the reference does from torch's global generator
	// seeded with InitSeed (the run seed), bit for bit on the CPU, instead
	// of from per-tensor seeds.
	ReferenceInit bool
}

func (o Options) withDefaults() Options {
	if o.Head == "" {
		o.Head = MaskedLM
	}
	if o.NumLabels == 0 {
		o.NumLabels = 2
	}
	if o.DType == 0 {
		o.DType = torch.Float32
	}
	return o
}

// validate checks the choices that libtorch would only reject mid-forward.
func (o Options) validate() error {
	switch o.Head {
	case MaskedLM, Prompt, SeqCls:
	default:
		return fmt.Errorf("roberta: unknown head %q (want %s, %s or %s)", o.Head, MaskedLM, Prompt, SeqCls)
	}
	if o.NumLabels < 1 {
		return fmt.Errorf("roberta: NumLabels must be at least 1, got %d", o.NumLabels)
	}
	if !o.DType.IsFloat() {
		return fmt.Errorf("roberta: dtype %v is not a floating-point type", o.DType)
	}
	if !o.Device.CUDA && (o.DType == torch.Float16 || o.DType == torch.BFloat16) {
		return fmt.Errorf("roberta: %v needs a CUDA device: on the CPU use float32 or float64 (libtorch 1.13 lacks CPU kernels for half-precision ops)", o.DType)
	}
	return nil
}

func (o Options) tied() bool {
	switch o.Tying {
	case Tied:
		return true
	case Untied:
		return false
	}
	return o.Head == MaskedLM
}

// Config holds the architecture numbers of a RoBERTa checkpoint.
type Config struct {
	VocabSize, Hidden, Layers, Heads, Intermediate int
	MaxPositions, TypeVocab, PadID                 int
	LayerNormEps                                   float64
	HiddenDropout, AttentionDropout                float64
	InitializerRange                               float64
	ClassifierDropout                              float64
}

// ConfigFrom validates an HF config as a RoBERTa this package can run.
func ConfigFrom(c *hf.Config) (Config, error) {
	var errs []string
	if c.ModelType != "" && c.ModelType != "roberta" {
		errs = append(errs, fmt.Sprintf("model_type %q is not roberta", c.ModelType))
	}
	if c.HiddenAct != "" && c.HiddenAct != "gelu" {
		errs = append(errs, fmt.Sprintf("hidden_act %q: only the exact \"gelu\" is supported", c.HiddenAct))
	}
	if c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute" {
		errs = append(errs, fmt.Sprintf("position_embedding_type %q: only \"absolute\" is supported", c.PositionEmbeddingType))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive, got %d", f.name, f.v))
		}
	}
	if c.NumAttentionHeads > 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		errs = append(errs, fmt.Sprintf("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("roberta: config: %s", strings.Join(errs, "; "))
	}
	cfg := Config{
		VocabSize: c.VocabSize, Hidden: c.HiddenSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
		Intermediate: c.IntermediateSize, MaxPositions: c.MaxPositionEmbeddings, TypeVocab: c.TypeVocabSize,
		PadID: c.PadTokenID, LayerNormEps: c.LayerNormEps, HiddenDropout: c.HiddenDropoutProb,
		AttentionDropout: c.AttentionProbsDropoutProb, InitializerRange: c.InitializerRange,
	}
	if cfg.TypeVocab <= 0 {
		cfg.TypeVocab = 1
	}
	if cfg.LayerNormEps == 0 {
		cfg.LayerNormEps = 1e-12 // PretrainedConfig's default; RoBERTa files say 1e-5
	}
	if cfg.InitializerRange == 0 {
		cfg.InitializerRange = 0.02
	}
	cfg.ClassifierDropout = cfg.HiddenDropout
	if c.ClassifierDropout != nil {
		cfg.ClassifierDropout = *c.ClassifierDropout
	}
	return cfg, nil
}

type layer struct {
	// query and value are slots an adapter may fill (peft.LoRALinear);
	// they start as the plain Linear.
	query, value nn.Module
	key, attnOut nn.Linear
	attnLN       nn.LayerNorm
	inter, out   nn.Linear
	outLN        nn.LayerNorm
	prefix       peft.KV // nil unless prefix-tuned
}

// Model is a RoBERTa with one head. Close frees its parameters.
type Model struct {
	Config Config
	Opts   Options
	Params *nn.ParamSet

	wordEmb, posEmb, typeEmb *torch.Tensor
	embLN                    nn.LayerNorm
	layers                   []layer
	pooler                   *nn.Linear // Prompt only (computed by the reference, unused by the loss)

	// LM head (MaskedLM, Prompt).
	lmDense   nn.Linear
	lmLN      nn.LayerNorm
	decoderW  *torch.Tensor // the word embeddings when tied
	lmBias    *torch.Tensor
	hasLMHead bool

	// Classification heads.
	cls              *nn.Linear // Prompt: Linear(hidden, labels) on <s> (linear probing)
	clsDense, clsOut *nn.Linear // SeqCls
}

// spec is one parameter the model registers, in named_parameters() order.
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

// specs lists the parameters of a model of cfg and opts in the order
// PyTorch's named_parameters() yields them for the matching class.
func specs(cfg Config, opts Options) []spec {
	H, V, I := int64(cfg.Hidden), int64(cfg.VocabSize), int64(cfg.Intermediate)
	var out []spec
	add := func(name string, init initKind, shape ...int64) {
		out = append(out, spec{name: name, shape: shape, init: init})
	}
	linear := func(prefix string, o, i int64) {
		add(prefix+".weight", initNormal, o, i)
		add(prefix+".bias", initZero, o)
	}
	layerNorm := func(prefix string, n int64) {
		add(prefix+".weight", initOne, n)
		add(prefix+".bias", initZero, n)
	}
	add("roberta.embeddings.word_embeddings.weight", initNormal, V, H)
	add("roberta.embeddings.position_embeddings.weight", initNormal, int64(cfg.MaxPositions), H)
	add("roberta.embeddings.token_type_embeddings.weight", initNormal, int64(cfg.TypeVocab), H)
	layerNorm("roberta.embeddings.LayerNorm", H)
	for l := 0; l < cfg.Layers; l++ {
		p := "roberta.encoder.layer." + strconv.Itoa(l) + "."
		linear(p+"attention.self.query", H, H)
		linear(p+"attention.self.key", H, H)
		linear(p+"attention.self.value", H, H)
		linear(p+"attention.output.dense", H, H)
		layerNorm(p+"attention.output.LayerNorm", H)
		linear(p+"intermediate.dense", I, H)
		linear(p+"output.dense", H, I)
		layerNorm(p+"output.LayerNorm", H)
	}
	if opts.Head == Prompt {
		linear("roberta.pooler.dense", H, H)
	}
	if opts.Head == MaskedLM || opts.Head == Prompt {
		// RobertaLMHead's own parameter (bias) comes before its children's.
		add("lm_head.bias", initZero, V)
		linear("lm_head.dense", H, H)
		layerNorm("lm_head.layer_norm", H)
		if !opts.tied() {
			add("lm_head.decoder.weight", initNormal, V, H)
		}
	}
	C := int64(opts.NumLabels)
	switch opts.Head {
	case Prompt:
		linear("classifier", C, H)
	case SeqCls:
		linear("classifier.dense", H, H)
		linear("classifier.out_proj", C, H)
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
		return nn.LayerNorm{W: get(prefix + ".weight"), B: get(prefix + ".bias"), Eps: m.Config.LayerNormEps}
	}
	m.wordEmb = get("roberta.embeddings.word_embeddings.weight")
	m.posEmb = get("roberta.embeddings.position_embeddings.weight")
	m.typeEmb = get("roberta.embeddings.token_type_embeddings.weight")
	m.embLN = ln("roberta.embeddings.LayerNorm")
	m.layers = make([]layer, m.Config.Layers)
	for l := range m.layers {
		p := "roberta.encoder.layer." + strconv.Itoa(l) + "."
		m.layers[l] = layer{
			query: lin(p + "attention.self.query"), key: lin(p + "attention.self.key"),
			value: lin(p + "attention.self.value"), attnOut: lin(p + "attention.output.dense"),
			attnLN: ln(p + "attention.output.LayerNorm"), inter: lin(p + "intermediate.dense"),
			out: lin(p + "output.dense"), outLN: ln(p + "output.LayerNorm"),
		}
	}
	switch m.Opts.Head {
	case Prompt:
		pl := lin("roberta.pooler.dense")
		m.pooler = &pl
		c := lin("classifier")
		m.cls = &c
	case SeqCls:
		d, o := lin("classifier.dense"), lin("classifier.out_proj")
		m.clsDense, m.clsOut = &d, &o
	}
	if m.Opts.Head == MaskedLM || m.Opts.Head == Prompt {
		m.hasLMHead = true
		m.lmDense = lin("lm_head.dense")
		m.lmLN = ln("lm_head.layer_norm")
		m.lmBias = get("lm_head.bias")
		m.decoderW = m.wordEmb
		if !m.Opts.tied() {
			m.decoderW = get("lm_head.decoder.weight")
		}
	}
	for _, p := range m.Params.All() {
		if p.T == nil {
			return fmt.Errorf("roberta: parameter %s not set", p.Name)
		}
	}
	return nil
}

// Close frees the model's parameters.
func (m *Model) Close() error {
	if m == nil || m.Params == nil {
		return nil
	}
	return m.Params.Close()
}

// New builds a randomly initialised model (no checkpoint): weights
// N(0, initializer_range), biases 0, LayerNorm (1, 0), from generators seeded
// with opts.InitSeed plus the parameter's index.
func New(c *hf.Config, opts Options) (*Model, error) {
	cfg, err := ConfigFrom(c)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return build(cfg, opts, "roberta: init", func(i int, sp spec) (*torch.Tensor, error) {
		return initTensor(sp, opts, cfg.InitializerRange, opts.InitSeed+uint64(i))
	})
}

// build registers every parameter of specs(cfg, opts), in order, with the
// tensor newTensor returns for it, and wires the modules. On error everything
// made so far is freed; errors are prefixed with where.
func build(cfg Config, opts Options, where string, newTensor func(i int, sp spec) (*torch.Tensor, error)) (*Model, error) {
	m := &Model{Config: cfg, Opts: opts, Params: nn.NewParamSet()}
	for i, sp := range specs(cfg, opts) {
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
