package opt

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/paritytest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
)

func tinyStateDict(t *testing.T) (*hf.ModelDir, *hf.StateDict) {
	t.Helper()
	md, err := hf.OpenModel(testenv.SharedPath(t, "fixtures", "opt-tiny"), hf.FormatSafetensors)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := md.Load()
	if err != nil {
		t.Fatal(err)
	}
	return md, sd
}

// TestParameterOrder: named_parameters() order of OPTForCausalLM, the tied
// lm_head.weight left out.
func TestParameterOrder(t *testing.T) {
	m := loadTiny(t)
	defer m.Close()
	names := m.Params.Names()
	want := []string{"model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight",
		"model.decoder.final_layer_norm.weight", "model.decoder.final_layer_norm.bias",
		"model.decoder.layers.0.self_attn.k_proj.weight", "model.decoder.layers.0.self_attn.k_proj.bias",
		"model.decoder.layers.0.self_attn.v_proj.weight", "model.decoder.layers.0.self_attn.v_proj.bias",
		"model.decoder.layers.0.self_attn.q_proj.weight", "model.decoder.layers.0.self_attn.q_proj.bias",
		"model.decoder.layers.0.self_attn.out_proj.weight", "model.decoder.layers.0.self_attn.out_proj.bias",
		"model.decoder.layers.0.self_attn_layer_norm.weight", "model.decoder.layers.0.self_attn_layer_norm.bias",
		"model.decoder.layers.0.fc1.weight", "model.decoder.layers.0.fc1.bias",
		"model.decoder.layers.0.fc2.weight", "model.decoder.layers.0.fc2.bias",
		"model.decoder.layers.0.final_layer_norm.weight", "model.decoder.layers.0.final_layer_norm.bias"}
	if len(names) != 36 {
		t.Fatalf("%d parameters, want 36", len(names))
	}
	for i, w := range want {
		if names[i] != w {
			t.Fatalf("parameter %d is %s, want %s (order %v)", i, names[i], w, names[:len(want)])
		}
	}
	projected := Config{VocabSize: 10, Hidden: 8, Layers: 1, Heads: 2, FFN: 16, EmbedDim: 4, MaxPositions: 6, Bias: true, Affine: true}
	var got []string
	for _, sp := range specs(projected)[:4] {
		got = append(got, sp.name)
	}
	if w := []string{"model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight",
		"model.decoder.project_out.weight", "model.decoder.project_in.weight"}; strings.Join(got, " ") != strings.Join(w, " ") {
		t.Errorf("projected post-LN model starts %v, want %v", got, w)
	}
}

// TestLoadErrorsNameKeys: a missing, a mis-shaped and an unknown tensor
// are all reported at once with the checkpoint named; bad configs and
// options are refused clearly.
func TestLoadErrorsNameKeys(t *testing.T) {
	md, sd := tinyStateDict(t)
	delete(sd.Tensors, "model.decoder.layers.1.fc2.weight")
	short, err := hf.FromFloat32s([]int64{3}, []float32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	sd.Tensors["model.decoder.layers.0.self_attn.q_proj.bias"] = short
	sd.Tensors["model.decoder.layers.9.mystery.weight"] = short
	sd.Names = append(sd.Names, "model.decoder.layers.9.mystery.weight")
	_, err = FromStateDict(md.Config, sd, "broken-checkpoint", Options{})
	var ke *hf.KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("want *hf.KeyError, got %T: %v", err, err)
	}
	for _, want := range []string{"broken-checkpoint", "model.decoder.layers.1.fc2.weight",
		"model.decoder.layers.0.self_attn.q_proj.bias", "model.decoder.layers.9.mystery.weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope"), "", Options{}); err == nil {
		t.Fatal("loading a missing directory succeeded")
	}
	if _, err := New(md.Config, Options{DType: torch.Float16}); err == nil || !strings.Contains(err.Error(), "CUDA") {
		t.Fatalf("float16 on the CPU not refused clearly: %v", err)
	}
	for field, mutate := range map[string]func(c *hf.Config){
		"activation_function": func(c *hf.Config) { c.ActivationFunction = "silu" },
		"layerdrop":           func(c *hf.Config) { c.LayerDrop = 0.1 },
		"num_attention_heads": func(c *hf.Config) { c.NumAttentionHeads = 5 },
		"model_type":          func(c *hf.Config) { c.ModelType = "roberta" },
	} {
		bad := *md.Config
		mutate(&bad)
		if _, err := New(&bad, Options{}); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("bad %s not reported: %v", field, err)
		}
	}
}

// TestBareOPTModelKeys: a checkpoint of the bare OPTModel (decoder.*, no
// lm_head, as facebook/opt-* ship) loads as the full model, with the tied
// head.
func TestBareOPTModelKeys(t *testing.T) {
	md, sd := tinyStateDict(t)
	bare := hf.NewStateDict()
	for _, n := range sd.Names {
		if n == "lm_head.weight" {
			continue
		}
		b := strings.TrimPrefix(n, "model.")
		bare.Names = append(bare.Names, b)
		bare.Tensors[b] = sd.Tensors[n]
	}
	a, err := FromStateDict(md.Config, sd, "full", Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := FromStateDict(md.Config, bare, "bare", Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if d := maxDiff(tinyLogits(t, a), tinyLogits(t, b)); d != 0 {
		t.Errorf("bare keys change the logits by %g", d)
	}
}

// TestFloat64MatchesHFFloat64: in float64 our forward and gradients agree
// with HF's float64 run (expected_f64.safetensors) far inside the float32
// tolerances.
func TestFloat64MatchesHFFloat64(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "opt-tiny")
	exp, err := hf.ReadSafetensors(filepath.Join(dir, "expected_f64.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c := paritytest.NewChecker(t, exp, dir+" (float64)")
	m, err := Load(dir, "", Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Grad)
	defer s.Close()
	in := Inputs{InputIDs: c.Input(s, "input_ids", torch.CPU), AttentionMask: c.Input(s, "attention_mask", torch.CPU)}
	logits := m.Logits(s, in, ForwardOptions{})
	loss := m.LMLoss(s, logits, c.Input(s, "labels", torch.CPU))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	c.Compare("logits", logits, 1e-12, 1e-12)
	c.Compare("loss", loss, 1e-12, 0)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	c.CompareGrads(m.Params, "grad.", 1e-12, 1e-10, kProjBias)
	t.Logf("compared %d tensors; the closest used %.0f%% of its tolerance (%s)", c.Compared, 100*c.Worst, c.WorstName)
}

// TestSaveLoadRoundTrip saves opt-tiny and loads it back bit for bit; a
// file without our metadata is refused by LoadCheckpoint.
func TestSaveLoadRoundTrip(t *testing.T) {
	m := loadTiny(t)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "run", "best.safetensors")
	if err := m.Save(path, map[string]string{"gomezo.step": "7"}); err != nil {
		t.Fatal(err)
	}
	md, _ := tinyStateDict(t)
	back, err := LoadCheckpoint(path, md.Config, Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	pa, pb := m.Params.All(), back.Params.All()
	if len(pa) != len(pb) {
		t.Fatalf("%d parameters back, want %d", len(pb), len(pa))
	}
	for i := range pa {
		if eq, err := torch.Equal(pa[i].T, pb[i].T); err != nil || !eq || pa[i].Name != pb[i].Name {
			t.Fatalf("%s differs after the round trip", pa[i].Name)
		}
	}
	if _, err := LoadCheckpoint(filepath.Join(testenv.SharedPath(t, "fixtures", "opt-tiny"), "model.safetensors"), md.Config, Options{}); err == nil ||
		!strings.Contains(err.Error(), "gomezo.model") {
		t.Errorf("an HF file was accepted as a gomezo checkpoint: %v", err)
	}
}
