package roberta

import (
	"fmt"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
)

// Load opens a model by directory or Hugging Face cache name (see
// hf.OpenModel) and builds a model with opts from its weights. prefer picks
// the weights format when a directory has both ("" for the default).
func Load(nameOrPath string, prefer hf.Format, opts Options) (*Model, error) {
	md, err := hf.OpenModel(nameOrPath, prefer)
	if err != nil {
		return nil, err
	}
	sd, err := md.Load()
	if err != nil {
		return nil, err
	}
	m, err := FromStateDict(md.Config, sd, md.WeightsPath, opts)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// backbonePrefixes are the module names of RobertaModel; a checkpoint of a
// bare RobertaModel stores them without the "roberta." prefix.
var backbonePrefixes = []string{"embeddings.", "encoder.", "pooler."}

// normalize returns sd with bare-RobertaModel keys renamed under "roberta.".
func normalize(sd *hf.StateDict) *hf.StateDict {
	if _, ok := sd.Tensors["roberta.embeddings.word_embeddings.weight"]; ok {
		return sd
	}
	if _, ok := sd.Tensors["embeddings.word_embeddings.weight"]; !ok {
		return sd
	}
	out := &hf.StateDict{Tensors: map[string]*hf.Tensor{}}
	for _, n := range sd.Names {
		name := n
		for _, p := range backbonePrefixes {
			if strings.HasPrefix(n, p) {
				name = "roberta." + n
				break
			}
		}
		out.Names = append(out.Names, name)
		out.Tensors[name] = sd.Tensors[n]
	}
	return out
}

// FromStateDict builds a model from checkpoint tensors. source names the
// checkpoint in errors. Every parameter must be present with its shape,
// except:
//   - lm_head.decoder.weight, copied from the word embeddings when absent
//     (HF omits tied keys; without the copy an untied decoder would be random);
//   - roberta.pooler.* and classifier.* when the checkpoint has no such head:
//     initialised as in New from opts.InitSeed.
//
// Tensors of heads this model does not have, and known buffers
// (roberta.embeddings.position_ids, lm_head.decoder.bias = lm_head.bias), are
// ignored. Any other missing, unexpected or mis-shaped tensor is an error
// listing every such key.
func FromStateDict(c *hf.Config, sd *hf.StateDict, source string, opts Options) (*Model, error) {
	cfg, err := ConfigFrom(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	sd = normalize(sd)
	all := specs(cfg, opts)

	exp := hf.Expect{Source: source}
	for _, sp := range all {
		if generated(sp.name) {
			exp.Set(sp.name, hf.Spec{Shape: sp.shape, Optional: true})
		} else {
			exp.Set(sp.name, hf.Spec{Shape: sp.shape})
		}
	}
	V, H := int64(cfg.VocabSize), int64(cfg.Hidden)
	exp.Ignore("roberta.embeddings.position_ids")
	if opts.Head == MaskedLM || opts.Head == Prompt {
		exp.AddOptional("lm_head.decoder.weight", "", V, H)
		exp.AddOptional("lm_head.decoder.bias", "", V)
	} else {
		exp.Ignore("lm_head.*")
	}
	if opts.Head != Prompt {
		exp.Ignore("roberta.pooler.*")
	}
	switch opts.Head {
	case MaskedLM:
		exp.Ignore("classifier.*")
	case Prompt:
		exp.Ignore("classifier.dense.*", "classifier.out_proj.*")
	case SeqCls:
		exp.Ignore("classifier.weight", "classifier.bias")
	}
	if err := exp.Check(sd); err != nil {
		return nil, err
	}
	return build(cfg, opts, source, func(i int, sp spec) (*torch.Tensor, error) {
		src := sd.Tensors[sp.name]
		if src == nil && sp.name == "lm_head.decoder.weight" {
			src = sd.Tensors["roberta.embeddings.word_embeddings.weight"]
		}
		if src == nil {
			return initTensor(sp, opts, cfg.InitializerRange, opts.InitSeed+uint64(i))
		}
		if !isFloat(src.DType) {
			return nil, fmt.Errorf("dtype %s, want a floating-point type", src.DType)
		}
		return nn.FromHF(src, opts.DType, opts.Device)
	})
}

// generated reports whether a parameter may be missing from a checkpoint
// and then be initialised here: heads that pre-training does not produce.
func generated(name string) bool {
	return strings.HasPrefix(name, "roberta.pooler.") || strings.HasPrefix(name, "classifier") ||
		name == "lm_head.decoder.weight"
}

func isFloat(d hf.DType) bool { return d == "F32" || d == "F64" || d == "F16" || d == "BF16" }
