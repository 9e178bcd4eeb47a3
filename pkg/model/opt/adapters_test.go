package opt

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/paritytest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/peft"
)

// tinyLogits runs opt-tiny's recorded batch (right padding) and a
// left-padded copy of its second row through m: logits as host values.
func tinyLogits(t *testing.T, m *Model) []float64 {
	t.Helper()
	ids := []int64{2, 858, 198, 125, 367, 635, 879, 662, 497, 498, 512, 733,
		2, 497, 536, 858, 373, 4, 249, 127, 393, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 2, 882, 190, 601, 33}
	mask := []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}
	s := torch.NewScope(torch.NoGrad)
	defer s.Close()
	lg := m.Logits(s, Inputs{InputIDs: s.FromInt64s(ids, []int64{3, 12}, m.Opts.Device), AttentionMask: s.FromInt64s(mask, []int64{3, 12}, m.Opts.Device)}, ForwardOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	v := paritytest.Values(t, lg)
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("logit %d is %v", i, x)
		}
	}
	return v
}

func loadTiny(t *testing.T) *Model {
	t.Helper()
	m, err := Load(testenv.SharedPath(t, "fixtures", "opt-tiny"), "", Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestLoRAOnOPT: large_models' LoRA attaches to q_proj and v_proj with
// lora_A and lora_B right after each projection's bias; at initialisation
// (B = 0) the model is the base one; with B non-zero the unmerged forward
// equals the base model loaded with the merged weights.
func TestLoRAOnOPT(t *testing.T) {
	m := loadTiny(t)
	defer m.Close()
	base := tinyLogits(t, m)
	gen, err := torch.NewGenerator(torch.CPU, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	lora, err := peft.ApplyLoRA(m, peft.LoRAConfig{R: 4, Alpha: 8}, gen)
	if err != nil {
		t.Fatal(err)
	}
	names := m.Params.Names()
	idx := map[string]int{}
	for i, n := range names {
		idx[n] = i
	}
	for l := 0; l < m.Config.Layers; l++ {
		for _, proj := range []string{"q_proj", "v_proj"} {
			p := LayerPrefix(l) + "self_attn." + proj
			if idx[p+".lora_A"] != idx[p+".bias"]+1 || idx[p+".lora_B"] != idx[p+".bias"]+2 {
				t.Errorf("%s: lora_A at %d, lora_B at %d, bias at %d", p, idx[p+".lora_A"], idx[p+".lora_B"], idx[p+".bias"])
			}
		}
	}
	if got := len(names); got != 36+4*m.Config.Layers {
		t.Errorf("%d parameters after LoRA, want %d", got, 36+4*m.Config.Layers)
	}
	if d := maxDiff(tinyLogits(t, m), base); d != 0 {
		t.Errorf("with B = 0 the logits moved by %g", d)
	}
	for i, ll := range lora.Layers {
		z, err := torch.Randn(shapeOf(t, ll.B), uint64(50+i), torch.Float64, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		if err := ll.B.CopyFrom(z); err != nil {
			t.Fatal(err)
		}
		z.Close()
	}
	adapted := tinyLogits(t, m)
	if d := maxDiff(adapted, base); d < 1e-3 {
		t.Errorf("a non-zero B moved the logits by only %g", d)
	}
	sd, err := lora.MergedStateDict(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hf.ReadConfig(testenv.SharedPath(t, "fixtures", "opt-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := FromStateDict(c, sd, "merged", Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	if d := maxDiff(tinyLogits(t, merged), adapted); d > 1e-10 {
		t.Errorf("merged model differs from the unmerged LoRA forward by %g", d)
	}
}

// TestPrefixOnOPT: prefixes are registered on self_attn before k_proj.weight
// as large_models names them, initialised from real activations
// (KeyValues), every padded or not row stays finite, and the prefix reaches
// the logits.
func TestPrefixOnOPT(t *testing.T) {
	m := loadTiny(t)
	defer m.Close()
	base := tinyLogits(t, m)
	gen, err := torch.NewGenerator(torch.CPU, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	pre, err := peft.ApplyPrefix(m, peft.PrefixConfig{Num: 3, InitByRealAct: true, InitTokenIDs: []int64{5, 77, 901}, Vocab: m.Config.VocabSize}, gen)
	if err != nil {
		t.Fatal(err)
	}
	names := m.Params.Names()
	for l := 0; l < m.Config.Layers; l++ {
		p := LayerPrefix(l) + "self_attn."
		for i, n := range names {
			if n == p+"k_proj.weight" {
				if i < 2 || names[i-2] != p+"prefix_keys" || names[i-1] != p+"prefix_values" {
					t.Errorf("layer %d: %v precede k_proj.weight", l, names[max(0, i-2):i])
				}
			}
		}
	}
	// The layer-0 prefix keys are layer 0's key projections of the tokens.
	// (KeyValues runs without the attached prefixes.)
	keys, values, err := m.KeyValues([]int64{5, 77, 901})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(paritytest.Values(t, keys[0]), paritytest.Values(t, pre.Layers[0].Keys)); d != 0 {
		t.Errorf("layer-0 prefix keys differ from the real activations by %g", d)
	}
	for _, k := range append(keys, values...) {
		k.Close()
	}
	if d := maxDiff(tinyLogits(t, m), base); d < 1e-3 {
		t.Errorf("the prefix moved the logits by only %g", d)
	}
}
