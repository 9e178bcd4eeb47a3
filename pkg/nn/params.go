// Package nn holds what the models share: the named, ordered parameter set
// with trainable flags, the building blocks (Linear, LayerNorm), and the
// conversion of checkpoint tensors (pkg/hf) into libtorch tensors.
package nn

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/gomezo/gomezo/cgo/torch"
)

// Param is one named parameter tensor.
type Param struct {
	Name      string
	T         *torch.Tensor
	Trainable bool
}

// ParamSet is a model's parameters in registration order: the order of
// PyTorch's named_parameters(), which fixes the order z is drawn in. A
// tensor shared by two modules (a tied decoder) appears once, under its first
// name. The set owns its tensors: Close frees them. Not safe for concurrent
// mutation.
type ParamSet struct {
	params []*Param
	byName map[string]*Param
}

// NewParamSet returns an empty set.
func NewParamSet() *ParamSet { return &ParamSet{byName: map[string]*Param{}} }

// Add appends a trainable parameter; the set takes ownership of t.
func (ps *ParamSet) Add(name string, t *torch.Tensor) error {
	if _, dup := ps.byName[name]; dup {
		return fmt.Errorf("nn: parameter %q added twice", name)
	}
	if t.Closed() {
		return fmt.Errorf("nn: parameter %q: nil or closed tensor", name)
	}
	p := &Param{Name: name, T: t, Trainable: true}
	ps.params = append(ps.params, p)
	ps.byName[name] = p
	return nil
}

// Get returns the parameter called name, or nil.
func (ps *ParamSet) Get(name string) *Param { return ps.byName[name] }

// Len is the number of parameters.
func (ps *ParamSet) Len() int { return len(ps.params) }

// All returns the parameters in order (the slice is a copy; the *Param are
// shared).
func (ps *ParamSet) All() []*Param { return append([]*Param(nil), ps.params...) }

// Names returns every name in order.
func (ps *ParamSet) Names() []string {
	out := make([]string, len(ps.params))
	for i, p := range ps.params {
		out[i] = p.Name
	}
	return out
}

// Trainable returns the trainable parameters in order.
func (ps *ParamSet) Trainable() []*Param {
	var out []*Param
	for _, p := range ps.params {
		if p.Trainable {
			out = append(out, p)
		}
	}
	return out
}

func compile(patterns []string) ([]*regexp.Regexp, error) {
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("nn: bad parameter pattern %q: %v", p, err)
		}
		res[i] = re
	}
	return res, nil
}

func matchAny(res []*regexp.Regexp, name string) bool {
	for _, re := range res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// Freeze marks every parameter whose name matches one of the patterns
// (regular expressions, unanchored: "lm_head" matches any name containing
// it) as not trainable. A pattern that matches nothing is an error, so a
// misspelt name never silently trains everything. It returns how many
// parameters it froze.
func (ps *ParamSet) Freeze(patterns ...string) (int, error) {
	return ps.setWhere(patterns, false, true)
}

// TrainOnly marks the parameters matching a pattern trainable and every
// other one frozen. Every pattern must match something.
func (ps *ParamSet) TrainOnly(patterns ...string) (int, error) {
	return ps.setWhere(patterns, true, false)
}

// Unfreeze marks the matching parameters trainable.
func (ps *ParamSet) Unfreeze(patterns ...string) (int, error) {
	return ps.setWhere(patterns, true, true)
}

func (ps *ParamSet) setWhere(patterns []string, value, keepOthers bool) (int, error) {
	res, err := compile(patterns)
	if err != nil {
		return 0, err
	}
	for i, re := range res {
		found := false
		for _, p := range ps.params {
			if re.MatchString(p.Name) {
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("nn: parameter pattern %q matches no parameter", patterns[i])
		}
	}
	n := 0
	for _, p := range ps.params {
		if matchAny(res, p.Name) {
			p.Trainable = value
			n++
		} else if !keepOthers {
			p.Trainable = !value
		}
	}
	return n, nil
}

// TrainableList returns a torch.ParamList over the trainable parameters, in
// order, for whole-list passes (perturb, update, norms). The caller closes it;
// it holds its own references, so it stays valid if the set is closed first.
func (ps *ParamSet) TrainableList() (*torch.ParamList, error) {
	var ts []*torch.Tensor
	for _, p := range ps.Trainable() {
		ts = append(ts, p.T)
	}
	return torch.NewParamList(ts)
}

// SetRequiresGrad sets requires_grad on every parameter to its trainable
// flag (for backprop); with on=false it clears it everywhere.
func (ps *ParamSet) SetRequiresGrad(on bool) error {
	for _, p := range ps.params {
		if err := p.T.SetRequiresGrad(on && p.Trainable); err != nil {
			return fmt.Errorf("nn: %s: %w", p.Name, err)
		}
	}
	return nil
}

// Numel returns the number of elements of all parameters and of the
// trainable ones.
func (ps *ParamSet) Numel() (all, trainable int64, err error) {
	for _, p := range ps.params {
		n, err := p.T.Numel()
		if err != nil {
			return 0, 0, fmt.Errorf("nn: %s: %w", p.Name, err)
		}
		all += n
		if p.Trainable {
			trainable += n
		}
	}
	return all, trainable, nil
}

// Close frees every parameter tensor.
func (ps *ParamSet) Close() error {
	var first error
	for _, p := range ps.params {
		if err := p.T.Close(); err != nil && first == nil {
			first = err
		}
	}
	ps.params = nil
	ps.byName = map[string]*Param{}
	return first
}

// InsertAfter adds a trainable parameter right after the parameter called
// after (an adapter registered inside an existing module: loralib's lora_A
// follows its Linear's weight and bias in named_parameters()). The set takes
// ownership of t.
func (ps *ParamSet) InsertAfter(after, name string, t *torch.Tensor) error {
	return ps.insert(after, 1, name, t)
}

// InsertBefore adds a trainable parameter right before the parameter called
// before (a module's own parameters precede its children's: MeZO's
// prefix_keys come before attention.self.query.weight).
func (ps *ParamSet) InsertBefore(before, name string, t *torch.Tensor) error {
	return ps.insert(before, 0, name, t)
}

func (ps *ParamSet) insert(at string, offset int, name string, t *torch.Tensor) error {
	i := slices.IndexFunc(ps.params, func(p *Param) bool { return p.Name == at })
	if i < 0 {
		return fmt.Errorf("nn: cannot insert %q next to %q: no such parameter", name, at)
	}
	if _, dup := ps.byName[name]; dup {
		return fmt.Errorf("nn: parameter %q added twice", name)
	}
	if t.Closed() {
		return fmt.Errorf("nn: parameter %q: nil or closed tensor", name)
	}
	p := &Param{Name: name, T: t, Trainable: true}
	ps.params = slices.Insert(ps.params, i+offset, p)
	ps.byName[name] = p
	return nil
}
