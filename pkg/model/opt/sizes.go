package opt

import (
	"fmt"
	"sort"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
)

// Size is one of the OPT checkpoints MeZO's large_models trains, with the
// architecture numbers of its Hugging Face config.json (facebook/opt-*).
type Size struct {
	Name                                 string
	Layers, Hidden, Heads, FFN, EmbedDim int
	PreLN                                bool
}

// Sizes are facebook/opt-125m … opt-13b. All have vocab_size 50272,
// max_position_embeddings 2048, ReLU, biases, tied embeddings; opt-350m is
// the post-LayerNorm one with project_in/out (word_embed_proj_dim 512).
var Sizes = []Size{
	{"opt-125m", 12, 768, 12, 3072, 768, true},
	{"opt-350m", 24, 1024, 16, 4096, 512, false},
	{"opt-1.3b", 24, 2048, 32, 8192, 2048, true},
	{"opt-2.7b", 32, 2560, 32, 10240, 2560, true},
	{"opt-6.7b", 32, 4096, 32, 16384, 4096, true},
	{"opt-13b", 40, 5120, 40, 20480, 5120, true},
}

// LookupSize returns the size called name ("opt-1.3b" or
// "facebook/opt-1.3b").
func LookupSize(name string) (Size, error) {
	for _, s := range Sizes {
		if s.Name == name || "facebook/"+s.Name == name {
			return s, nil
		}
	}
	var names []string
	for _, s := range Sizes {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return Size{}, fmt.Errorf("opt: unknown size %q (known: %v)", name, names)
}

// HFConfig is the size's config.json as transformers 4.28 reads it.
func (s Size) HFConfig() *hf.Config {
	return &hf.Config{ModelType: "opt", VocabSize: 50272, HiddenSize: s.Hidden, NumHiddenLayers: s.Layers,
		NumAttentionHeads: s.Heads, FFNDim: s.FFN, MaxPositionEmbeddings: 2048, WordEmbedProjDim: s.EmbedDim,
		PadTokenID: 1, BOSTokenID: 2, EOSTokenID: 2, DoLayerNormBefore: s.PreLN, ActivationFunction: "relu",
		Dropout: 0.1, EnableBias: true, LayerNormElementwiseAffine: true, TieWordEmbeddings: true, InitStd: 0.02}
}

// NumParams counts the parameters of a model of c (named_parameters(): the
// tied head counted once).
func NumParams(c Config) int64 {
	var n int64
	for _, sp := range specs(c) {
		k := int64(1)
		for _, d := range sp.shape {
			k *= d
		}
		n += k
	}
	return n
}

// Memory is an estimate of the device memory a run needs, in bytes.
type Memory struct {
	Params int64 // the weights
	// State is what training keeps besides the weights: FT's gradients
	// and AdamW's two moments (kept in float32 as the reference's fp16
	// FT keeps its master weights is not modelled); none for MeZO, whose
	// z is regenerated from the seed.
	State int64
	// Activations is the peak of the forward pass's tensors: for MeZO
	// (inference, freed as the pass goes) about one layer's transients;
	// for FT every layer's saved activations.
	Activations int64
}

// Total is the sum of the parts.
func (m Memory) Total() int64 { return m.Params + m.State + m.Activations }

// EstimateMemory estimates the memory of training c in dtype on batches of
// rows sequences of length seqLen whose options have at most optLen tokens
// (the LM head runs only there), with MeZO (inference-level memory) or FT
// with AdamW. It models this package's forward: per layer the attention
// scores [rows, heads, L, L] (two live at once), the mask bias, q/k/v and
// the FFN's two [rows, L, ffn] tensors; it ignores allocator slack and
// libtorch's workspace, so read it as a lower bound within tens of percent.
func EstimateMemory(c Config, dtype torch.DType, rows, seqLen, optLen int, fineTune bool) Memory {
	b := int64(dtype.Size())
	N := NumParams(c)
	BL := int64(rows) * int64(seqLen)
	H, F := int64(c.Hidden), int64(c.FFN)
	S := int64(rows) * int64(c.Heads) * int64(seqLen) * int64(seqLen)
	bias := int64(rows) * int64(seqLen) * int64(seqLen)
	head := int64(rows) * int64(optLen) * int64(c.VocabSize) * 2 // logits and log-softmax
	m := Memory{Params: N * b}
	if !fineTune {
		attn := 5*H*BL + 2*S
		ffn := 2*H*BL + 2*F*BL
		m.Activations = (max(attn, ffn, head) + bias) * b
		return m
	}
	m.State = N*b + 2*N*4
	// Saved for backward per layer: LN inputs and outputs, q, k, v, the
	// scores' softmax (and its dropout mask), the context, the FFN input,
	// fc1's output and ReLU's.
	perLayer := 8*H*BL + 2*S + 2*F*BL
	m.Activations = (int64(c.Layers)*perLayer + bias + head) * b
	return m
}
