package peft_test

import (
	"math"
	"slices"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/peft"
)

// The prefix fixtures (../shared/fixtures/prefix) come from MeZO's own
// PrefixTuning on roberta-tiny; their README's float32 tolerances are used:
// logits and hidden states 1e-5 + 1e-5·|b|, the loss 1e-6, gradients
// 1e-6 + 1e-4·|b|.

func prefixFixture(t *testing.T, name string) *hf.StateDict {
	t.Helper()
	sd, err := hf.ReadSafetensors(testenv.SharedPath(t, "fixtures", "prefix", name))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func hostValues(t *testing.T, x *torch.Tensor) []float64 {
	t.Helper()
	y, err := x.To(torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	v, err := y.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// near checks |got − want| ≤ abs + rel·|want| elementwise and returns the
// largest difference.
func near(t *testing.T, what string, got *torch.Tensor, want *hf.Tensor, abs, rel float64) float64 {
	t.Helper()
	if want == nil {
		t.Fatalf("%s: not in the fixture", what)
	}
	w, err := want.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	g := hostValues(t, got)
	if len(g) != len(w) {
		t.Fatalf("%s: %d values, fixture %d", what, len(g), len(w))
	}
	worst := 0.0
	for i := range g {
		d := math.Abs(g[i] - w[i])
		worst = math.Max(worst, d)
		if d > abs+rel*math.Abs(w[i]) {
			t.Errorf("%s: element %d: ours %.9g, fixture %.9g", what, i, g[i], w[i])
			return worst
		}
	}
	return worst
}

// prefixModel builds MeZO's prompt model from the fixture's full initial
// state (base tensors; the adapters are attached by the caller).
func prefixModel(t *testing.T, initial *hf.StateDict) (*roberta.Model, *hf.StateDict) {
	t.Helper()
	cfg, err := hf.ReadConfig(testenv.SharedPath(t, "fixtures", "roberta-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	base, adapters := peft.SplitState(initial)
	m, err := roberta.FromStateDict(cfg, base, "initial", roberta.Options{Head: roberta.Prompt, NumLabels: 3})
	if err != nil {
		t.Fatal(err)
	}
	return m, adapters
}

// checkPrefixForward runs the fixture batch through m (prefixes attached)
// and compares every recorded output and the prefix gradients.
func checkPrefixForward(t *testing.T, m *roberta.Model, exp *hf.StateDict) {
	t.Helper()
	for _, p := range m.Params.All() {
		p.Trainable = peft.IsPrefixParam(p.Name)
	}
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	b := tinyBatch()
	s := torch.NewScope(torch.Grad)
	defer s.Close()
	in := roberta.Inputs{InputIDs: s.FromInt64s(b.InputIDs, []int64{3, 12}, torch.CPU),
		AttentionMask: s.FromInt64s(b.AttentionMask, []int64{3, 12}, torch.CPU)}
	enc := m.Encode(s, in, roberta.ForwardOptions{Hidden: true, Attentions: true})
	words := s.FromInt64s(tinyLabelWords, []int64{3}, torch.CPU)
	pos := s.FromInt64s(b.MaskPos, []int64{3}, torch.CPU)
	vocab := m.LMHead(s, s.GatherRows(enc.Last, pos))
	logits := s.IndexSelect(vocab, 1, words)
	loss := s.CrossEntropy(logits, s.FromInt64s(b.Labels, []int64{3}, torch.CPU))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("label_word_logits max |Δ| %.3g", near(t, "label_word_logits", logits, exp.Tensors["label_word_logits"], 1e-5, 1e-5))
	near(t, "mask_vocab_logits", vocab, exp.Tensors["mask_vocab_logits"], 1e-5, 1e-5)
	t.Logf("loss max |Δ| %.3g", near(t, "loss", loss, exp.Tensors["loss"], 1e-6, 0))
	near(t, "last_hidden_state", enc.Last, exp.Tensors["last_hidden_state"], 1e-5, 1e-5)
	for l, h := range enc.Hidden {
		near(t, "hidden_states."+string(rune('0'+l)), h, exp.Tensors["hidden_states."+string(rune('0'+l))], 1e-5, 1e-5)
	}
	for l, a := range enc.Attentions {
		name := "attentions." + string(rune('0'+l))
		near(t, name, a, exp.Tensors[name], 1e-5, 1e-5)
		// Padding as the fixture shows: row 2 has 5 tokens; its padded
		// query rows still see the 5 prefix columns, and its padded key
		// columns get nothing.
		p := hostValues(t, a) // [3, 4, 12, 17]
		at := func(b, h, q, k int) float64 { return p[((b*4+h)*12+q)*17+k] }
		prefixMass, padMass := 0.0, 0.0
		for k := 0; k < 5; k++ {
			prefixMass += at(2, 0, 11, k)
		}
		for k := 5 + 5; k < 17; k++ {
			padMass += at(2, 0, 3, k)
		}
		if prefixMass <= 0 || padMass > 1e-12 {
			t.Errorf("%s: padded query row sees the prefix with mass %v; a real query gives padded keys %v", name, prefixMass, padMass)
		}
	}
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range m.Params.Trainable() {
		g, err := p.T.Grad()
		if err != nil {
			t.Fatal(err)
		}
		near(t, "grad."+p.Name, g, exp.Tensors["grad."+p.Name], 1e-6, 1e-4)
		g.Close()
		n++
	}
	if n == 0 {
		t.Fatal("no prefix parameters")
	}
}

// TestPrefixRealActivationsMatchesMeZO: MeZO's prefix tuning with
// --no_reparam --prefix_init_by_real_act, from the recorded token ids.
func TestPrefixRealActivationsMatchesMeZO(t *testing.T) {
	initial := prefixFixture(t, "initial.safetensors")
	exp := prefixFixture(t, "expected.safetensors")
	m, adapters := prefixModel(t, initial)
	defer m.Close()
	ids, err := exp.Tensors["init_token_ids"].Int64s()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int64{44, 239, 933, 760, 963}) {
		t.Fatalf("init_token_ids %v", ids)
	}
	pr, err := peft.ApplyPrefix(m, peft.PrefixConfig{Num: 5, InitByRealAct: true, InitTokenIDs: ids, Vocab: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The initial keys and values are the model's key and value projections
	// of the tokens (bias included), as the fixture's are.
	for l, lp := range pr.Layers {
		stem := "roberta.encoder.layer." + string(rune('0'+l)) + ".attention."
		t.Logf("layer %d: prefix keys max |Δ| %.3g, values %.3g", l,
			near(t, stem+"prefix_keys", lp.Keys, adapters.Tensors[stem+"prefix_keys"], 1e-5, 1e-5),
			near(t, stem+"prefix_values", lp.Values, adapters.Tensors[stem+"prefix_values"], 1e-5, 1e-5))
	}
	// Registered where named_parameters() lists them.
	names := m.Params.Names()
	i := slices.Index(names, "roberta.encoder.layer.0.attention.prefix_keys")
	if i < 0 || names[i+1] != "roberta.encoder.layer.0.attention.prefix_values" || names[i+2] != "roberta.encoder.layer.0.attention.self.query.weight" {
		t.Fatalf("prefix parameters out of order: %v", names)
	}
	// Teacher-forced: the fixture's exact prefix values, then the forward.
	if err := peft.LoadState(m.Params, adapters, "initial.safetensors"); err != nil {
		t.Fatal(err)
	}
	checkPrefixForward(t, m, exp)
}

// TestPrefixReparamMatchesMeZO: MeZO's default MLP reparameterisation,
// initialised from torch's generator seeded with 0 as the fixture's
// PrefixTuning was.
func TestPrefixReparamMatchesMeZO(t *testing.T) {
	initial := prefixFixture(t, "initial_reparam.safetensors")
	exp := prefixFixture(t, "expected_reparam.safetensors")
	m, adapters := prefixModel(t, initial)
	defer m.Close()
	gen, err := torch.NewGenerator(torch.CPU, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	pr, err := peft.ApplyPrefix(m, peft.PrefixConfig{Num: 5, Reparam: true}, gen)
	if err != nil {
		t.Fatal(err)
	}
	// The initialisation draws are the reference's, bit for bit.
	for _, n := range adapters.Names {
		p := m.Params.Get(n)
		if p == nil {
			if n != "roberta.encoder.layer.1.attention.prefix_input_embeds" {
				t.Errorf("no parameter %s", n)
			}
			continue
		}
		near(t, "initial "+n, p.T, adapters.Tensors[n], 0, 0)
	}
	got := 0
	for _, n := range m.Params.Names() {
		if peft.IsPrefixParam(n) {
			got++
		}
	}
	if got != 17 {
		t.Errorf("%d prefix tensors, want 17 (one shared embedding, 16 MLP tensors)", got)
	}
	for l, lp := range pr.Layers {
		if lp.Embeds != pr.Layers[0].Embeds {
			t.Errorf("layer %d has its own prefix embedding", l)
		}
		s := torch.NewScope(torch.NoGrad)
		k, v := lp.Effective(s)
		near(t, "effective keys", k, exp.Tensors["effective_prefix_keys."+string(rune('0'+l))], 1e-5, 1e-5)
		near(t, "effective values", v, exp.Tensors["effective_prefix_values."+string(rune('0'+l))], 1e-5, 1e-5)
		s.Close()
	}
	checkPrefixForward(t, m, exp)
}
