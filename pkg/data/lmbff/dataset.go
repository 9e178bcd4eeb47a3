package lmbff

import (
	"errors"
	"fmt"
)

// Dataset is the reference's FewShotDataset: the query examples of one split
// with, in prompt-demo mode, the training split as the demonstration pool.
//
// Every feature draws one select_context from the caller's Permuter, even
// outside prompt-demo mode, because the reference does so and the draws
// shift numpy's global stream. Dev and test features are all computed by
// NewDataset (num_sample of them per example in prompt-demo mode, in
// sample-major order, so feature i is example i % len(Query) of draw
// i / len(Query)); training features are computed on each Get, with a fresh
// demonstration draw, as the reference's __getitem__ does.
type Dataset struct {
	Enc   *Encoder
	Split Split
	// Support is the training split (the demonstration pool); Query the
	// split's examples (the same slice for the training split).
	Support, Query []Example
	// NumSample is the number of features per query example: the
	// configuration's NumSample for dev/test in prompt-demo mode, else 1.
	NumSample int
	features  []Feature
}

// NewDataset builds the dataset of split. For dev and test it renders every
// feature now, drawing demonstrations from rng in the reference's order;
// rng must be seeded as the reference's numpy global state is at that point
// (np.random.seed(seed) by set_seed, then whatever was drawn before). rng
// may be nil for the training split.
func NewDataset(enc *Encoder, split Split, support, query []Example, rng Permuter) (*Dataset, error) {
	if enc == nil {
		return nil, errors.New("lmbff: nil encoder")
	}
	if len(query) == 0 {
		return nil, fmt.Errorf("lmbff: %s %s split has no examples", enc.Task.Name, split)
	}
	if len(support) == 0 {
		return nil, fmt.Errorf("lmbff: %s has no training examples to draw demonstrations from", enc.Task.Name)
	}
	d := &Dataset{Enc: enc, Split: split, Support: support, Query: query, NumSample: 1}
	if split != SplitTrain && enc.Config.Mode == ModePromptDemo {
		d.NumSample = enc.Config.NumSample
	}
	if split == SplitTrain {
		return d, nil
	}
	if rng == nil {
		return nil, errors.New("lmbff: a dev or test dataset needs a Permuter for its demonstration draws")
	}
	d.features = make([]Feature, 0, d.Len())
	for i := 0; i < d.Len(); i++ {
		f, err := d.build(i, rng)
		if err != nil {
			return nil, err
		}
		d.features = append(d.features, f)
	}
	return d, nil
}

// Len is the number of features: len(Query) * NumSample.
func (d *Dataset) Len() int { return len(d.Query) * d.NumSample }

// Get returns feature i. For the training split it draws the demonstrations
// anew from rng (one rng.Permutation(len(Support)-1) per call, in every
// mode), which is what the reference's training loop interleaves with each
// step's seed: per step, Get for each example of the batch, then
// np.random.randint(1000000000) on the same RandomState. For dev and test
// it returns the precomputed feature and rng is unused.
func (d *Dataset) Get(i int, rng Permuter) (Feature, error) {
	if i < 0 || i >= d.Len() {
		return Feature{}, fmt.Errorf("lmbff: %s %s feature %d out of range [0, %d)", d.Enc.Task.Name, d.Split, i, d.Len())
	}
	if d.features != nil {
		return d.features[i], nil
	}
	if rng == nil {
		return Feature{}, errors.New("lmbff: training features need a Permuter")
	}
	return d.build(i, rng)
}

// build renders feature i, drawing its context from rng.
func (d *Dataset) build(i int, rng Permuter) (Feature, error) {
	q, sample := i%len(d.Query), i/len(d.Query)
	ex := d.Query[q]
	// The candidates: every training example, except the query itself
	// when the query is from the training split.
	context := make([]int, 0, len(d.Support))
	for s := range d.Support {
		if s != q || d.Split != SplitTrain {
			context = append(context, s)
		}
	}
	sel := d.SelectContext(context, rng)
	var demos []Example
	var byLabel []int
	if d.Enc.Config.Mode == ModePromptDemo {
		if len(sel) == 0 {
			return Feature{}, d.wrap(q, ex, errors.New("no demonstration could be drawn"))
		}
		byLabel = d.groupByLabel(sel)
		for _, s := range byLabel {
			demos = append(demos, d.Support[s])
		}
	}
	f, err := d.Enc.EncodeExample(ex, demos)
	if err != nil {
		return Feature{}, d.wrap(q, ex, err)
	}
	f.QueryIndex, f.SampleIndex = q, sample
	if d.Enc.Config.Mode == ModePromptDemo {
		f.Demos, f.DemoSelection = byLabel, sel
	}
	return f, nil
}

func (d *Dataset) wrap(q int, ex Example, err error) error {
	return fmt.Errorf("%s %s example %d (%s, %s:%d): %w", d.Enc.Task.Name, d.Split, q, ex.GUID, ex.File, ex.Line, err)
}

// groups are the labels demonstrations are drawn for: the task's labels,
// or "0" and "1" for regression.
func (d *Dataset) groups() []string {
	return d.Enc.Task.mappingKeys()
}

// SelectContext is the reference's select_context: it draws
// rng.Permutation(len(context)) and walks it, keeping the first candidate of
// each label (one demonstration per label), stopping once every label has
// one. context holds indices into Support; the result is the chosen
// indices into Support, in the order they were drawn.
func (d *Dataset) SelectContext(context []int, rng Permuter) []int {
	order := rng.Permutation(len(context))
	groups := d.groups()
	counts := make(map[string]int, len(groups))
	for _, g := range groups {
		counts[g] = 0
	}
	var sel []int
	filled := 0
	for _, o := range order {
		if o < 0 || o >= len(context) {
			continue
		}
		s := context[o]
		g := d.Enc.Task.demoGroup(d.Support[s])
		if c, ok := counts[g]; ok && c < 1 {
			sel = append(sel, s)
			counts[g]++
			filled++
		}
		if filled == len(groups) {
			break
		}
	}
	return sel
}

// groupByLabel orders selected demonstrations by label (label order, then
// selection order within a label), as convert_fn concatenates them.
func (d *Dataset) groupByLabel(sel []int) []int {
	var out []int
	for _, g := range d.groups() {
		for _, s := range sel {
			if d.Enc.Task.demoGroup(d.Support[s]) == g {
				out = append(out, s)
			}
		}
	}
	return out
}
