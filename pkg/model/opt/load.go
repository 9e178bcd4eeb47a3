package opt

import (
	"fmt"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
)

// Load opens a model by directory or Hugging Face cache name (see
// hf.OpenModel) and builds it from its weights, reading one tensor at a
// time: the checkpoint is never held in memory whole. prefer picks the
// weights format when a directory has both ("" for the default).
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
// OPTModel's keys (decoder.*, as facebook/opt-* ship) appear under "model.".
type tensorSource struct {
	names []string
	orig  map[string]string // normalised → name in the checkpoint
	info  func(string) (hf.TensorInfo, bool)
	read  func(string) (*hf.Tensor, error)
}

func newSource(names []string, info func(string) (hf.TensorInfo, bool), read func(string) (*hf.Tensor, error)) *tensorSource {
	s := &tensorSource{orig: map[string]string{}, info: info, read: read}
	bare := false
	for _, n := range names {
		if n == "decoder.embed_tokens.weight" {
			bare = true
		}
		if n == decoderPrefix+"embed_tokens.weight" {
			bare = false
			break
		}
	}
	for _, n := range names {
		norm := n
		if bare && strings.HasPrefix(n, "decoder.") {
			norm = "model." + n
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
// present with its shape, except an untied lm_head.weight, copied from the
// token embeddings when absent. A tied model ignores a stored lm_head.weight
// (HF's safetensors keep a copy of the tied tensor) once its shape is
// checked. Any other missing, unexpected or mis-shaped tensor is an error
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
	for _, sp := range specs(cfg) {
		exp.Set(sp.name, hf.Spec{Shape: sp.shape, Optional: sp.name == "lm_head.weight"})
	}
	if cfg.Tied {
		exp.AddOptional("lm_head.weight", "", int64(cfg.VocabSize), int64(cfg.EmbedDim))
	}
	if err := exp.CheckNames(src.names, src.infoOf); err != nil {
		return nil, err
	}
	return build(cfg, opts, source, func(i int, sp spec) (*torch.Tensor, error) {
		name := sp.name
		if !src.has(name) && name == "lm_head.weight" {
			name = decoderPrefix + "embed_tokens.weight"
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
}

func isFloat(d hf.DType) bool { return d == "F32" || d == "F64" || d == "F16" || d == "BF16" }
