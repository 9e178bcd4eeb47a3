package roberta

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
)

// TestPromptParameterOrder loads the reference prompt model's full initial
// state dict (trajectory-a) and checks our parameter list against the
// reference's named_parameters() order and shapes.
func TestPromptParameterOrder(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "mezo-reference", "trajectory-a")
	raw, err := os.ReadFile(filepath.Join(dir, "trajectory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Trainable []struct {
			Name  string  `json:"name"`
			Shape []int64 `json:"shape"`
		} `json:"trainable_parameters"`
		Batch struct {
			LabelWords []int64 `json:"label_word_list"`
		} `json:"batch"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "initial.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromStateDict(cfg, sd, "initial.safetensors", Options{Head: Prompt, NumLabels: len(tr.Batch.LabelWords)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ps := m.Params.All()
	if len(ps) != len(tr.Trainable) {
		t.Fatalf("%d parameters, reference has %d", len(ps), len(tr.Trainable))
	}
	for i, want := range tr.Trainable {
		if ps[i].Name != want.Name {
			t.Fatalf("parameter %d: %s, reference %s", i, ps[i].Name, want.Name)
		}
		sh, _ := ps[i].T.Shape()
		if !equalShape(sh, want.Shape) {
			t.Errorf("%s: shape %v, reference %v", want.Name, sh, want.Shape)
		}
	}
	// Untied: the decoder is its own tensor, loaded with the checkpoint's values.
	dec := m.Params.Get("lm_head.decoder.weight")
	if dec == nil || dec.T == m.Params.Get("roberta.embeddings.word_embeddings.weight").T {
		t.Fatal("prompt model's decoder is not a separate tensor")
	}
	got, _ := dec.T.Float32s()
	want, _ := sd.Tensors["lm_head.decoder.weight"].Float32s()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("decoder element %d: %v want %v", i, got[i], want[i])
		}
	}
	t.Logf("%d parameters in the reference's order", len(ps))
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func tinyDir(t *testing.T) string { return testenv.SharedPath(t, "fixtures", "roberta-tiny") }

// tinyStateDict opens roberta-tiny and reads its safetensors weights.
func tinyStateDict(t *testing.T) (*hf.ModelDir, *hf.StateDict) {
	t.Helper()
	md, err := hf.OpenModelDir(tinyDir(t), hf.FormatSafetensors)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := md.Load()
	if err != nil {
		t.Fatal(err)
	}
	return md, sd
}

// TestMissingDecoderCopiedFromEmbeddings drops lm_head.decoder.weight (as
// HF's save_pretrained does) and checks the untied prompt decoder equals the
// word embeddings rather than being random (MEZO_SPEC §12.3).
func TestMissingDecoderCopiedFromEmbeddings(t *testing.T) {
	md, sd := tinyStateDict(t)
	delete(sd.Tensors, "lm_head.decoder.weight")
	delete(sd.Tensors, "lm_head.decoder.bias")
	var names []string
	for _, n := range sd.Names {
		if _, ok := sd.Tensors[n]; ok {
			names = append(names, n)
		}
	}
	sd.Names = names
	m, err := FromStateDict(md.Config, sd, "test", Options{Head: Prompt, NumLabels: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	eq, err := torch.Equal(m.Params.Get("lm_head.decoder.weight").T, m.Params.Get("roberta.embeddings.word_embeddings.weight").T)
	if err != nil || !eq {
		t.Fatalf("decoder not copied from the embeddings (%v)", err)
	}
}

// TestLoadErrorsNameKeys: missing, mis-shaped and unknown tensors are all
// reported, by key, in one error.
func TestLoadErrorsNameKeys(t *testing.T) {
	md, sd := tinyStateDict(t)
	delete(sd.Tensors, "roberta.encoder.layer.1.output.dense.weight")
	short, err := hf.FromFloat32s([]int64{3}, []float32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	sd.Tensors["roberta.encoder.layer.0.attention.self.query.bias"] = short
	sd.Tensors["roberta.encoder.layer.9.mystery.weight"] = short
	sd.Names = append(sd.Names, "roberta.encoder.layer.9.mystery.weight")
	_, err = FromStateDict(md.Config, sd, "broken-checkpoint", Options{Head: MaskedLM})
	if err == nil {
		t.Fatal("loading a broken checkpoint succeeded")
	}
	var ke *hf.KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("want *hf.KeyError, got %T: %v", err, err)
	}
	for _, want := range []string{"broken-checkpoint", "roberta.encoder.layer.1.output.dense.weight",
		"roberta.encoder.layer.0.attention.self.query.bias", "roberta.encoder.layer.9.mystery.weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope"), "", Options{}); err == nil {
		t.Fatal("loading a missing directory succeeded")
	}
	if _, err := FromStateDict(md.Config, sd, "x", Options{DType: torch.Float16}); err == nil || !strings.Contains(err.Error(), "CUDA") {
		t.Fatalf("float16 on the CPU not refused clearly: %v", err)
	}
	if _, err := FromStateDict(md.Config, sd, "x", Options{Head: "clm"}); err == nil {
		t.Fatal("unknown head accepted")
	}
	bad := *md.Config
	bad.HiddenAct = "gelu_new"
	if _, err := New(&bad, Options{}); err == nil || !strings.Contains(err.Error(), "hidden_act") {
		t.Fatalf("unsupported activation not reported: %v", err)
	}
}

// TestSaveLoadRoundTrip saves a prompt model and loads it back bit for bit.
func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := Load(tinyDir(t), "", Options{Head: Prompt, NumLabels: 3, InitSeed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(t.TempDir(), "ckpt", "model.safetensors")
	if err := m.Save(path, map[string]string{"step": "7"}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := hf.ReadConfig(tinyDir(t))
	m2, err := LoadCheckpoint(path, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.Opts.Head != Prompt || m2.Opts.NumLabels != 3 || m2.Opts.tied() {
		t.Fatalf("metadata not restored: %+v", m2.Opts)
	}
	a, b := m.Params.All(), m2.Params.All()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d parameters", len(a), len(b))
	}
	for i := range a {
		if eq, err := torch.Equal(a[i].T, b[i].T); err != nil || !eq || a[i].Name != b[i].Name {
			t.Fatalf("parameter %s differs after the round trip (%v)", a[i].Name, err)
		}
	}
}

// TestFloat64MatchesReference runs the parity inputs in float64 against HF's
// float64 run (expected_f64.safetensors): a much tighter check of the
// arithmetic than float32 allows.
func TestFloat64MatchesReference(t *testing.T) {
	dir := tinyDir(t)
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "expected_f64.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, "", Options{Head: MaskedLM, DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := torch.NewScope(torch.NoGrad)
	defer s.Close()
	in := inputsFromExpected(t, s, sd, "input_ids", "attention_mask", "mask_pos", "label_word_ids", "labels")
	enc := m.Encode(s, Inputs{InputIDs: in[0], AttentionMask: in[1]}, ForwardOptions{})
	logits := m.PromptLogits(s, enc.Last, in[2], in[3])
	loss := s.CrossEntropy(logits, in[4])
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	c := &checker{t: t, exp: sd, where: "expected_f64", used: map[string]bool{}}
	c.compare("last_hidden_state", enc.Last, 1e-12, 1e-12)
	c.compare("label_word_logits", logits, 1e-12, 1e-12)
	c.compare("loss", loss, 1e-13, 0)
}

// TestDropoutOnlyInTraining: eval forwards are deterministic and equal;
// training forwards differ from eval and are reproducible for a seed.
func TestDropoutOnlyInTraining(t *testing.T) {
	m, err := Load(tinyDir(t), "", Options{Head: MaskedLM})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	run := func(fo ForwardOptions) []float32 {
		s := torch.NewScope(torch.NoGrad)
		defer s.Close()
		in := Inputs{InputIDs: s.FromInt64s([]int64{0, 5, 6, 7, 2, 0, 8, 9, 2, 1}, []int64{2, 5}, torch.CPU),
			AttentionMask: s.FromInt64s([]int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, []int64{2, 5}, torch.CPU)}
		enc := m.Encode(s, in, fo)
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		v, _ := enc.Last.Float32s()
		return v
	}
	e1, e2 := run(ForwardOptions{}), run(ForwardOptions{})
	t1, t2 := run(ForwardOptions{Train: true, DropoutSeed: 3}), run(ForwardOptions{Train: true, DropoutSeed: 3})
	t3 := run(ForwardOptions{Train: true, DropoutSeed: 4})
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !same(e1, e2) || !same(t1, t2) {
		t.Fatal("forward passes are not reproducible")
	}
	if same(e1, t1) || same(t1, t3) {
		t.Fatal("dropout did not change training forwards")
	}
}

// TestCUDAParity runs the parity forward on a CUDA device when there is one.
func TestCUDAParity(t *testing.T) {
	n, err := torch.CUDADeviceCount()
	if err != nil || n == 0 {
		t.Skipf("SKIP (no GPU): no CUDA device (count %d, %v); this test runs on a GPU machine", n, err)
	}
	dir := tinyDir(t)
	exp := loadExpected(t, dir)
	m, err := Load(dir, "", Options{Head: MaskedLM, Device: torch.CUDA(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := torch.NewScope(torch.Inference)
	defer s.Close()
	var in []*torch.Tensor
	for _, name := range []string{"input_ids", "attention_mask", "mask_pos", "label_word_ids", "labels"} {
		v, _ := exp.Tensors[name].Int64s()
		in = append(in, s.FromInt64s(v, exp.Tensors[name].Shape, torch.CUDA(0)))
	}
	enc := m.Encode(s, Inputs{InputIDs: in[0], AttentionMask: in[1]}, ForwardOptions{})
	loss := s.CrossEntropy(m.PromptLogits(s, enc.Last, in[2], in[3]), in[4])
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	got, _ := loss.Item()
	want, _ := exp.Tensors["loss"].Float32s()
	// TF32 and different kernels on GPU: a looser bound than the CPU parity.
	if math.Abs(got-float64(want[0])) > 1e-4 {
		t.Fatalf("CUDA loss %v, HF %v", got, want[0])
	}
}

// TestBareRobertaModelKeys loads a checkpoint saved from a bare RobertaModel
// (keys without the "roberta." prefix) and gets the same parameters.
func TestBareRobertaModelKeys(t *testing.T) {
	md, sd := tinyStateDict(t)
	bare := &hf.StateDict{Tensors: map[string]*hf.Tensor{}}
	for _, n := range sd.Names {
		b := strings.TrimPrefix(n, "roberta.")
		bare.Names = append(bare.Names, b)
		bare.Tensors[b] = sd.Tensors[n]
	}
	a, err := FromStateDict(md.Config, sd, "prefixed", Options{Head: MaskedLM})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := FromStateDict(md.Config, bare, "bare", Options{Head: MaskedLM})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pa, pb := a.Params.All(), b.Params.All()
	for i := range pa {
		if eq, err := torch.Equal(pa[i].T, pb[i].T); err != nil || !eq || pa[i].Name != pb[i].Name {
			t.Fatalf("%s differs between prefixed and bare keys", pa[i].Name)
		}
	}
}
