package hf

import (
	"fmt"
	"slices"
	"strings"
)

// StateDict is a named set of tensors in file order: Names lists every key
// of Tensors exactly once, in the order the checkpoint stores them
// (safetensors: data-offset order; pytorch_model.bin: the pickled
// OrderedDict's order; sharded checkpoints: shard by shard).
//
// Use Set and Delete to keep Names and Tensors in step when editing.
type StateDict struct {
	Names   []string
	Tensors map[string]*Tensor
}

// NewStateDict returns an empty StateDict.
func NewStateDict() *StateDict { return &StateDict{Tensors: map[string]*Tensor{}} }

// Len returns the number of tensors.
func (sd *StateDict) Len() int { return len(sd.Names) }

// Get returns the tensor called name, or nil.
func (sd *StateDict) Get(name string) *Tensor { return sd.Tensors[name] }

// Has reports whether name is present.
func (sd *StateDict) Has(name string) bool { _, ok := sd.Tensors[name]; return ok }

// Set stores t under name, appending name to Names when it is new and keeping
// its position when it replaces a tensor.
func (sd *StateDict) Set(name string, t *Tensor) {
	if sd.Tensors == nil {
		sd.Tensors = map[string]*Tensor{}
	}
	if _, ok := sd.Tensors[name]; !ok {
		sd.Names = append(sd.Names, name)
	}
	sd.Tensors[name] = t
}

// Delete removes name (a no-op when absent).
func (sd *StateDict) Delete(name string) {
	if _, ok := sd.Tensors[name]; !ok {
		return
	}
	delete(sd.Tensors, name)
	sd.Names = slices.DeleteFunc(sd.Names, func(n string) bool { return n == name })
}

// Bytes returns the total size of all tensor data in bytes.
func (sd *StateDict) Bytes() int64 {
	var n int64
	for _, t := range sd.Tensors {
		n += int64(len(t.Data))
	}
	return n
}

// Validate checks that Names and Tensors agree and that every tensor's data
// has the size its dtype and shape call for.
func (sd *StateDict) Validate() error {
	if len(sd.Names) != len(sd.Tensors) {
		return fmt.Errorf("hf: state dict has %d names but %d tensors", len(sd.Names), len(sd.Tensors))
	}
	seen := make(map[string]bool, len(sd.Names))
	for _, n := range sd.Names {
		if seen[n] {
			return fmt.Errorf("hf: state dict lists %q twice", n)
		}
		seen[n] = true
		t, ok := sd.Tensors[n]
		if !ok || t == nil {
			return fmt.Errorf("hf: state dict lists %q but holds no tensor for it", n)
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("hf: tensor %q: %w", n, err)
		}
	}
	return nil
}

// Rename maps every name through f, keeping the order. Two names mapping to
// the same new name is an error (naming both), and sd is then unchanged.
func (sd *StateDict) Rename(f func(name string) string) error {
	names := make([]string, len(sd.Names))
	tensors := make(map[string]*Tensor, len(sd.Tensors))
	from := make(map[string]string, len(sd.Names))
	for i, n := range sd.Names {
		m := f(n)
		if prev, dup := from[m]; dup {
			return fmt.Errorf("hf: rename maps both %q and %q to %q", prev, n, m)
		}
		from[m] = n
		names[i] = m
		tensors[m] = sd.Tensors[n]
	}
	sd.Names, sd.Tensors = names, tensors
	return nil
}

// Filter keeps only the tensors for which keep returns true, in order.
func (sd *StateDict) Filter(keep func(name string) bool) {
	out := sd.Names[:0]
	for _, n := range sd.Names {
		if keep(n) {
			out = append(out, n)
		} else {
			delete(sd.Tensors, n)
		}
	}
	sd.Names = out
}

// ReplacePrefix returns a rename function for StateDict.Rename that replaces
// the leading old with new on names that start with old and leaves the rest
// alone. ReplacePrefix("", "roberta.") prefixes every name;
// ReplacePrefix("roberta.", "") strips the prefix where present.
func ReplacePrefix(old, new string) func(string) string {
	return func(name string) string {
		if rest, ok := strings.CutPrefix(name, old); ok {
			return new + rest
		}
		return name
	}
}

// Tied pairs a tensor a model ties (Dst) with the tensor it is tied to (Src).
type Tied struct{ Dst, Src string }

// RobertaTied lists RobertaForMaskedLM's tied pairs: the decoder shares the
// word embeddings and lm_head.bias. Hugging Face's save_pretrained omits
// the decoder keys (`_keys_to_ignore_on_save`), and newer transformers may
// write model.safetensors without them (MEZO_SPEC §12.3).
var RobertaTied = []Tied{
	{"lm_head.decoder.weight", "roberta.embeddings.word_embeddings.weight"},
	{"lm_head.decoder.bias", "lm_head.bias"},
}

// OPTTied lists OPTForCausalLM's tied pair: lm_head.weight shares
// model.decoder.embed_tokens.weight.
var OPTTied = []Tied{{"lm_head.weight", "model.decoder.embed_tokens.weight"}}

// FillTied stores a copy of Src under Dst for every pair whose Dst is absent
// and whose Src is present, appending Dst to Names, and returns the names it
// filled (so a loader can log them). The copy keeps the rule that no two
// tensors share Data.
func (sd *StateDict) FillTied(pairs []Tied) []string {
	var filled []string
	for _, p := range pairs {
		if sd.Has(p.Dst) {
			continue
		}
		src := sd.Get(p.Src)
		if src == nil {
			continue
		}
		sd.Set(p.Dst, src.Clone())
		filled = append(filled, p.Dst)
	}
	return filled
}

// NormalizeRobertaKeys maps the key spellings found in RoBERTa checkpoints
// onto RobertaFor*'s: legacy LayerNorm names `.gamma`/`.beta` become
// `.weight`/`.bias` (as transformers does when loading), and a bare
// RobertaModel checkpoint (keys `embeddings.*`, `encoder.*`, `pooler.*`)
// gets the `roberta.` prefix. It returns the number of keys renamed; on a
// collision it returns an error and leaves sd unchanged.
func (sd *StateDict) NormalizeRobertaKeys() (int, error) {
	n := 0
	err := sd.Rename(func(name string) string {
		m := name
		if s, ok := strings.CutSuffix(m, ".gamma"); ok {
			m = s + ".weight"
		} else if s, ok := strings.CutSuffix(m, ".beta"); ok {
			m = s + ".bias"
		}
		for _, p := range []string{"embeddings.", "encoder.", "pooler."} {
			if strings.HasPrefix(m, p) {
				m = "roberta." + m
				break
			}
		}
		if m != name {
			n++
		}
		return m
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
