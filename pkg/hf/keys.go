package hf

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Spec is what a model expects of one checkpoint tensor.
type Spec struct {
	Shape    []int64 // nil: any shape
	DType    DType   // "": any dtype
	Optional bool    // absence is not an error
}

// Expect describes the tensors a model loader needs from a state dict, so
// that one Check reports every missing, unexpected and mis-shaped tensor at
// once:
//
//	var e hf.Expect
//	e.Add("roberta.embeddings.word_embeddings.weight", hf.F32, V, H)
//	e.AddOptional("lm_head.decoder.weight", hf.F32, V, H)
//	e.Ignore("roberta.embeddings.position_ids", "roberta.pooler.*")
//	if err := e.Check(sd); err != nil { return err } // a *KeyError
type Expect struct {
	// Source names the checkpoint in errors (a file or directory).
	Source  string
	names   []string
	specs   map[string]Spec
	ignored []string
}

// Add expects a required tensor of the given dtype ("" for any) and shape
// (no dimensions: any shape; use Set with Shape []int64{} for a scalar).
func (e *Expect) Add(name string, dtype DType, shape ...int64) {
	e.Set(name, Spec{Shape: shape, DType: dtype})
}

// AddOptional expects a tensor that may be absent (for example a tied
// decoder the loader fills from the embeddings), but whose dtype and shape
// must match when present.
func (e *Expect) AddOptional(name string, dtype DType, shape ...int64) {
	e.Set(name, Spec{Shape: shape, DType: dtype, Optional: true})
}

// Set records spec for name, replacing an earlier one.
func (e *Expect) Set(name string, spec Spec) {
	if e.specs == nil {
		e.specs = map[string]Spec{}
	}
	if _, ok := e.specs[name]; !ok {
		e.names = append(e.names, name)
	}
	spec.Shape = slices.Clone(spec.Shape) // nil stays nil (any shape); []int64{} is a scalar
	e.specs[name] = spec
}

// Ignore declares checkpoint tensors the model does not use, so their
// presence is not reported as unexpected. Patterns use path.Match syntax,
// where '*' also matches dots: "roberta.pooler.*".
func (e *Expect) Ignore(patterns ...string) { e.ignored = append(e.ignored, patterns...) }

// Names returns the expected names in the order they were added.
func (e *Expect) Names() []string { return slices.Clone(e.names) }

func (e *Expect) isIgnored(name string) bool {
	for _, p := range e.ignored {
		if ok, _ := path.Match(p, name); ok || p == name {
			return true
		}
	}
	return false
}

// Check compares sd with the expectations and returns nil or a *KeyError
// listing every problem.
func (e *Expect) Check(sd *StateDict) error {
	return e.check(sd.Names, func(n string) (TensorInfo, bool) {
		t := sd.Get(n)
		if t == nil {
			return TensorInfo{}, false
		}
		return TensorInfo{DType: t.DType, Shape: t.Shape}, true
	})
}

// CheckCheckpoint is Check on an open Checkpoint, before any tensor data
// is read.
func (e *Expect) CheckCheckpoint(c *Checkpoint) error { return e.check(c.names, c.Info) }

// CheckNames is Check on any source of tensors: names in order, and info
// giving each one's dtype and shape.
func (e *Expect) CheckNames(names []string, info func(string) (TensorInfo, bool)) error {
	return e.check(names, info)
}

func (e *Expect) check(names []string, info func(string) (TensorInfo, bool)) error {
	ke := &KeyError{Source: e.Source}
	for _, n := range e.names {
		spec := e.specs[n]
		t, ok := info(n)
		if !ok {
			if !spec.Optional {
				ke.Missing = append(ke.Missing, n)
			}
			continue
		}
		if (spec.Shape != nil && !slices.Equal(spec.Shape, t.Shape)) || (spec.DType != "" && spec.DType != t.DType) {
			ke.Mismatched = append(ke.Mismatched, Mismatch{Name: n, Want: spec, GotDType: t.DType, GotShape: slices.Clone(t.Shape)})
		}
	}
	for _, n := range names {
		if _, ok := e.specs[n]; !ok && !e.isIgnored(n) {
			ke.Unexpected = append(ke.Unexpected, n)
		}
	}
	if len(ke.Missing)+len(ke.Unexpected)+len(ke.Mismatched) == 0 {
		return nil
	}
	return ke
}

// Mismatch is a tensor whose dtype or shape differs from its Spec.
type Mismatch struct {
	Name     string
	Want     Spec
	GotDType DType
	GotShape []int64
}

// KeyError reports how a state dict differs from an Expect: tensors
// missing (in the order expected), unexpected (in file order) and
// mismatched.
type KeyError struct {
	Source     string
	Missing    []string
	Unexpected []string
	Mismatched []Mismatch
}

// Error lists every key, one per line after a summary line.
func (k *KeyError) Error() string {
	var b strings.Builder
	src := ""
	if k.Source != "" {
		src = " " + k.Source
	}
	var parts []string
	if n := len(k.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing", n))
	}
	if n := len(k.Unexpected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected", n))
	}
	if n := len(k.Mismatched); n > 0 {
		parts = append(parts, fmt.Sprintf("%d mismatched", n))
	}
	fmt.Fprintf(&b, "hf: checkpoint%s does not fit the model: %s tensors", src, strings.Join(parts, ", "))
	for _, n := range k.Missing {
		fmt.Fprintf(&b, "\n  missing:    %s", n)
	}
	for _, n := range k.Unexpected {
		fmt.Fprintf(&b, "\n  unexpected: %s", n)
	}
	for _, m := range k.Mismatched {
		want := "any"
		if m.Want.DType != "" {
			want = string(m.Want.DType)
		}
		ws := "any shape"
		if m.Want.Shape != nil {
			ws = fmt.Sprint(m.Want.Shape)
		}
		fmt.Fprintf(&b, "\n  mismatched: %s: checkpoint %s%v, model wants %s %s", m.Name, m.GotDType, m.GotShape, want, ws)
	}
	return b.String()
}
