package roberta

import (
	"fmt"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
)

// Load opens a model by directory or Hugging Face cache name (see
// hf.OpenModel) and builds a model with opts from its weights, reading one
// tensor at a time: the checkpoint is never held in memory whole. prefer
// picks the weights format when a directory has both ("" for the default).
func Load(nameOrPath string, prefer hf.Format, opts Options) (*Model, error) {
	md, err := hf.OpenModel(nameOrPath, prefer)
	if err != nil {
		return nil, err
	}
	ck, err := md.Open()
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	return fromSource(md.Config, newSource(ck.Names(), ck.Info, ck.Read), md.WeightsPath, opts)
}

// FromStateDict builds a model from checkpoint tensors held in memory.
// source names the checkpoint in errors. See fromSource for the rules.
func FromStateDict(c *hf.Config, sd *hf.StateDict, source string, opts Options) (*Model, error) {
	info := func(n string) (hf.TensorInfo, bool) {
		t, ok := sd.Tensors[n]
		if !ok {
			return hf.TensorInfo{}, false
		}
		return hf.TensorInfo{DType: t.DType, Shape: t.Shape}, true
	}
	read := func(n string) (*hf.Tensor, error) {
		t, ok := sd.Tensors[n]
		if !ok {
			return nil, fmt.Errorf("no tensor %q", n)
		}
		return t, nil
	}
	var names []string
	for _, n := range sd.Names {
		if _, ok := sd.Tensors[n]; ok {
			names = append(names, n)
		}
	}
	return fromSource(c, newSource(names, info, read), source, opts)
}

// tensorSource is a checkpoint seen under normalised names: a bare
// RobertaModel's keys (embeddings.*, encoder.*, pooler.*) appear under
// "roberta.".
type tensorSource struct {
	names []string
	orig  map[string]string // normalised → name in the checkpoint
	info  func(string) (hf.TensorInfo, bool)
	read  func(string) (*hf.Tensor, error)
}

// backbonePrefixes are the module names of RobertaModel.
var backbonePrefixes = []string{"embeddings.", "encoder.", "pooler."}

func newSource(names []string, info func(string) (hf.TensorInfo, bool), read func(string) (*hf.Tensor, error)) *tensorSource {
	s := &tensorSource{orig: map[string]string{}, info: info, read: read}
	bare := false
	for _, n := range names {
		if n == "embeddings.word_embeddings.weight" {
			bare = true
		}
		if n == "roberta.embeddings.word_embeddings.weight" {
			bare = false
			break
		}
	}
	for _, n := range names {
		norm := n
		if bare {
			for _, p := range backbonePrefixes {
				if strings.HasPrefix(n, p) {
					norm = "roberta." + n
					break
				}
			}
		}
		s.names = append(s.names, norm)
		s.orig[norm] = n
	}
	return s
}

func (s *tensorSource) has(name string) bool { _, ok := s.orig[name]; return ok }

func (s *tensorSource) infoOf(name string) (hf.TensorInfo, bool) {
	o, ok := s.orig[name]
	if !ok {
		return hf.TensorInfo{}, false
	}
	return s.info(o)
}

func (s *tensorSource) get(name string) (*hf.Tensor, error) { return s.read(s.orig[name]) }

// fromSource builds a model from checkpoint tensors. Every parameter must be
// present with its shape, except:
//   - lm_head.decoder.weight, copied from the word embeddings when absent
//     (HF omits tied keys; without the copy an untied decoder would be random);
//   - roberta.pooler.* and classifier.* when the checkpoint has no such head:
//     initialised as in New from opts.InitSeed.
//
// Tensors of heads this model does not have, and known buffers
// (roberta.embeddings.position_ids, lm_head.decoder.bias = lm_head.bias), are
// ignored. Any other missing, unexpected or mis-shaped tensor is an error
// listing every such key, reported before any tensor is read.
func fromSource(c *hf.Config, src *tensorSource, source string, opts Options) (*Model, error) {
	cfg, err := ConfigFrom(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	exp := hf.Expect{Source: source}
	for _, sp := range specs(cfg, opts) {
		exp.Set(sp.name, hf.Spec{Shape: sp.shape, Optional: generated(sp.name)})
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
	if err := exp.CheckNames(src.names, src.infoOf); err != nil {
		return nil, err
	}
	m, err := build(cfg, opts, source, func(i int, sp spec) (*torch.Tensor, error) {
		name := sp.name
		if !src.has(name) && name == "lm_head.decoder.weight" {
			name = "roberta.embeddings.word_embeddings.weight"
		}
		if !src.has(name) {
			return initTensor(sp, opts, cfg.InitializerRange, opts.InitSeed+uint64(i))
		}
		t, err := src.get(name)
		if err != nil {
			return nil, err
		}
		if !isFloat(t.DType) {
			return nil, fmt.Errorf("dtype %s, want a floating-point type", t.DType)
		}
		return nn.FromHF(t, opts.DType, opts.Device)
	})
	if err != nil || !opts.ReferenceInit || opts.Head != Prompt {
		return m, err
	}
	missing := map[string]bool{}
	for _, n := range []string{"roberta.pooler.dense.weight", "roberta.pooler.dense.bias", "classifier.weight", "classifier.bias"} {
		missing[n] = !src.has(n)
	}
	if err := referenceHeadInit(m, opts.InitSeed, missing); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// generated reports whether a parameter may be missing from a checkpoint
// and then be initialised here: heads that pre-training does not produce.
func generated(name string) bool {
	return strings.HasPrefix(name, "roberta.pooler.") || strings.HasPrefix(name, "classifier") ||
		name == "lm_head.decoder.weight"
}

func isFloat(d hf.DType) bool { return d == "F32" || d == "F64" || d == "F16" || d == "BF16" }
