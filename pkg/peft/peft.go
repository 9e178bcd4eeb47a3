// Package peft holds the parameter-efficient adapters MeZO's paper trains
// (MEZO_SPEC §3.3–3.5): LoRA on the attention's query and value projections
// and prefix tuning's per-layer key/value prefixes. They attach to any model
// that describes its attention blocks as Sites (pkg/model/roberta today; a
// decoder such as OPT the same way): an adapter replaces a projection slot
// with its own Module, or fills the block's prefix slot, which the attention
// code calls to extend its keys, values and mask. The adapters' tensors are
// registered in the model's nn.ParamSet, where PyTorch's named_parameters()
// would list them, so the z stream's order stays the reference's.
//
// Adapters are not safe for concurrent use; the ParamSet owns their tensors.
package peft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
)

// KV is what a prefix-tuned attention block calls after projecting its keys
// and values: it prepends the block's prefix. k and v are [B, heads, L, hd],
// bias the additive mask [B, 1, 1, L]; it returns [B, heads, m+L, hd] keys
// and values and the mask [B, 1, 1, m+L] with the prefix columns visible
// (−0.0, as the reference's -torch.zeros) to every query. The results belong
// to s.
type KV interface {
	Extend(s *torch.Scope, k, v, bias *torch.Tensor) (k2, v2, bias2 *torch.Tensor)
}

// Slot is one projection of an attention block: its module name (the
// parameter names' stem, e.g. roberta.encoder.layer.0.attention.self.query)
// and the model's field the attention code calls.
type Slot struct {
	Name   string
	Module *nn.Module
}

// Site is one attention block as a model describes it to the adapters.
type Site struct {
	// Module is the name of the block that owns prefix parameters
	// (roberta.encoder.layer.N.attention; OPT's …self_attn).
	Module string
	// First is the block's first parameter: a module's own parameters come
	// before its children's in named_parameters(), so prefixes are
	// inserted before it.
	First string
	// Query and Value are the projections LoRA adapts.
	Query, Value Slot
	// Prefix is the block's prefix slot (nil: none).
	Prefix *KV
	// Hidden is the width of a key or value (heads·hd); Heads the number of
	// attention heads.
	Hidden, Heads int64
}

// Host is a model that takes adapters.
type Host interface {
	// ParamSet is the model's parameter set, in named_parameters() order.
	ParamSet() *nn.ParamSet
	// Sites lists the attention blocks, bottom layer first.
	Sites() []Site
	// KeyValues runs the backbone without adapters on the token ids
	// (one sequence, no special tokens added, every token attended) in
	// inference mode and returns each layer's key and value projections
	// [n, Hidden], bias included, for the caller to free.
	KeyValues(ids []int64) (keys, values []*torch.Tensor, err error)
}

// IsAdapterParam reports whether a parameter belongs to an adapter (LoRA or
// prefix) rather than to the base model.
func IsAdapterParam(name string) bool { return IsLoRAParam(name) || IsPrefixParam(name) }

// SplitState splits a state dict into the base model's tensors and the
// adapters', keeping each one's order. The tensors are shared, not copied.
func SplitState(sd *hf.StateDict) (base, adapters *hf.StateDict) {
	base, adapters = hf.NewStateDict(), hf.NewStateDict()
	for _, n := range sd.Names {
		t, ok := sd.Tensors[n]
		if !ok {
			continue
		}
		d := base
		if IsAdapterParam(n) {
			d = adapters
		}
		d.Names = append(d.Names, n)
		d.Tensors[n] = t
	}
	return base, adapters
}

// LoadState copies the adapter tensors of sd (as SplitState returns them)
// into the adapters registered in ps, converting dtype and device. A prefix
// embedding that a state dict repeats per layer (the reference's shared
// prefix_input_embeds) loads from its first copy, which ps holds; any other
// adapter tensor ps lacks, or of the wrong shape, is an error naming source.
// Adapters absent from sd keep their initialisation.
func LoadState(ps *nn.ParamSet, sd *hf.StateDict, source string) error {
	for _, n := range sd.Names {
		ht := sd.Tensors[n]
		p := ps.Get(n)
		if p == nil {
			if strings.HasSuffix(n, ".prefix_input_embeds") {
				continue
			}
			return fmt.Errorf("%s: adapter tensor %s: the recipe's adapters have no such parameter", source, n)
		}
		dt, err := p.T.DType()
		if err != nil {
			return err
		}
		dev, err := p.T.Device()
		if err != nil {
			return err
		}
		shape, err := p.T.Shape()
		if err != nil {
			return err
		}
		if !slices.Equal(shape, ht.Shape) {
			return fmt.Errorf("%s: adapter tensor %s has shape %v, the recipe's adapter %v", source, n, ht.Shape, shape)
		}
		t, err := nn.FromHF(ht, dt, dev)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", source, n, err)
		}
		err = p.T.CopyFrom(t)
		t.Close()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", source, n, err)
		}
	}
	return nil
}
