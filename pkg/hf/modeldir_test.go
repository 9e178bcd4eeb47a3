package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

func TestReadConfigRoberta(t *testing.T) {
	c, err := ReadConfig(testenv.SharedPath(t, "fixtures", "roberta-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ModelType: "roberta", Architectures: []string{"RobertaForMaskedLM"}, TorchDType: "float32", TransformersVersion: "4.28.1",
		VocabSize: 1000, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 64,
		MaxPositionEmbeddings: 66, TypeVocabSize: 1, PadTokenID: 1, BOSTokenID: 0, EOSTokenID: 2,
		LayerNormEps: 1e-5, HiddenAct: "gelu", PositionEmbeddingType: "absolute",
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, InitializerRange: 0.02,
		TieWordEmbeddings: true, UseCache: true, NumLabels: 2,
	}
	got := *c
	got.Raw = nil
	if !configEqual(got, want) {
		t.Errorf("config\n got %+v\nwant %+v", got, want)
	}
	if c.ClassifierDropout != nil {
		t.Errorf("classifier_dropout = %v, want null", *c.ClassifierDropout)
	}
	if len(c.Raw) != 0 {
		t.Errorf("Raw = %v, want empty (every key has a field)", c.Raw)
	}
	if hd, err := c.HeadDim(); err != nil || hd != 8 {
		t.Errorf("HeadDim = %d, %v", hd, err)
	}
}

func configEqual(a, b Config) bool {
	if !slices.Equal(a.Architectures, b.Architectures) || len(a.ID2Label) != len(b.ID2Label) {
		return false
	}
	a.Architectures, b.Architectures = nil, nil
	a.ID2Label, b.ID2Label, a.Label2ID, b.Label2ID = nil, nil, nil, nil
	a.ClassifierDropout, b.ClassifierDropout = nil, nil
	a.Raw, b.Raw = nil, nil
	return a.ModelType == b.ModelType && a.VocabSize == b.VocabSize && a.HiddenSize == b.HiddenSize &&
		a.NumHiddenLayers == b.NumHiddenLayers && a.NumAttentionHeads == b.NumAttentionHeads &&
		a.IntermediateSize == b.IntermediateSize && a.MaxPositionEmbeddings == b.MaxPositionEmbeddings &&
		a.TypeVocabSize == b.TypeVocabSize && a.PadTokenID == b.PadTokenID && a.BOSTokenID == b.BOSTokenID &&
		a.EOSTokenID == b.EOSTokenID && a.LayerNormEps == b.LayerNormEps && a.HiddenAct == b.HiddenAct &&
		a.PositionEmbeddingType == b.PositionEmbeddingType && a.HiddenDropoutProb == b.HiddenDropoutProb &&
		a.AttentionProbsDropoutProb == b.AttentionProbsDropoutProb && a.InitializerRange == b.InitializerRange &&
		a.TieWordEmbeddings == b.TieWordEmbeddings && a.UseCache == b.UseCache && a.NumLabels == b.NumLabels &&
		a.TorchDType == b.TorchDType && a.TransformersVersion == b.TransformersVersion
}

func TestReadConfigSeqClsAndOPT(t *testing.T) {
	c, err := ReadConfig(testenv.SharedPath(t, "fixtures", "roberta-tiny", "seqcls"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumLabels != 3 || c.ID2Label[2] != "LABEL_2" || c.Label2ID["LABEL_1"] != 1 || c.ProblemType != "single_label_classification" {
		t.Errorf("seqcls labels: %d %v %v %q", c.NumLabels, c.ID2Label, c.Label2ID, c.ProblemType)
	}
	if c.Architectures[0] != "RobertaForSequenceClassification" {
		t.Errorf("architectures %v", c.Architectures)
	}
	o, err := ReadConfig(testenv.SharedPath(t, "fixtures", "opt-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	if o.ModelType != "opt" || o.FFNDim != 64 || !o.DoLayerNormBefore || o.WordEmbedProjDim != 32 ||
		o.ActivationFunction != "relu" || o.MaxPositionEmbeddings != 64 || o.BOSTokenID != 2 || o.PadTokenID != 1 ||
		!o.EnableBias || !o.LayerNormElementwiseAffine || o.RemoveFinalLayerNorm || o.Dropout != 0.1 ||
		o.AttentionDropout != 0 || o.InitStd != 0.02 || !o.TieWordEmbeddings || o.HiddenSize != 32 {
		t.Errorf("opt config %+v", o)
	}
	if len(o.Raw) != 0 {
		t.Errorf("opt Raw = %v", o.Raw)
	}
}

func TestParseConfigDefaultsAndRaw(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"roberta","hidden_size":1024,"tie_word_embeddings":false,
		"id2label":{"0":"neg","1":"neu","2":"pos","3":"x"},"my_extra":[1,2],"gradient_checkpointing":false}`), "mem")
	if err != nil {
		t.Fatal(err)
	}
	if c.HiddenSize != 1024 || c.NumHiddenLayers != 12 || c.LayerNormEps != 1e-12 || c.VocabSize != 50265 || c.PadTokenID != 1 {
		t.Errorf("roberta defaults not applied: %+v", c)
	}
	if c.TieWordEmbeddings {
		t.Error("tie_word_embeddings false ignored")
	}
	if c.NumLabels != 4 {
		t.Errorf("num_labels from id2label = %d", c.NumLabels)
	}
	if _, ok := c.Raw["my_extra"]; !ok || len(c.Raw) != 2 {
		t.Errorf("Raw = %v", c.Raw)
	}
	c, err = ParseConfig([]byte(`{"model_type":"opt","num_labels":5,"id2label":{"0":"a"},"word_embed_proj_dim":null,"hidden_size":64}`), "mem")
	if err != nil {
		t.Fatal(err)
	}
	if c.NumLabels != 5 || c.WordEmbedProjDim != 64 || c.FFNDim != 3072 || c.MaxPositionEmbeddings != 2048 {
		t.Errorf("opt: %+v", c)
	}
	if _, err := ParseConfig([]byte(`{"hidden_size":"big"}`), "cfg.json"); err == nil || !strings.Contains(err.Error(), "cfg.json") {
		t.Errorf("bad type: %v", err)
	}
	if _, err := ReadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no config.json") {
		t.Errorf("missing config: %v", err)
	}
}

func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenModelDir(t *testing.T) {
	fx := testenv.SharedPath(t, "fixtures", "roberta-tiny")
	m, err := OpenModelDir(fx, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != FormatSafetensors || filepath.Base(m.WeightsPath) != "model.safetensors" || m.Config.HiddenSize != 32 {
		t.Errorf("default pick %+v", m)
	}
	mb, err := OpenModelDir(fx, FormatBin)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Format != FormatBin || filepath.Base(mb.WeightsPath) != "pytorch_model.bin" {
		t.Errorf("bin pick %+v", mb)
	}
	a, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	b, err := mb.Load()
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 45 || b.Len() != 45 {
		t.Fatalf("%d and %d tensors", a.Len(), b.Len())
	}

	// Only a .bin: the default falls back to it, forcing safetensors fails.
	dir := t.TempDir()
	linkOrCopy(t, filepath.Join(fx, "config.json"), filepath.Join(dir, "config.json"))
	linkOrCopy(t, filepath.Join(fx, "pytorch_model.bin"), filepath.Join(dir, "pytorch_model.bin"))
	if m, err := OpenModelDir(dir, ""); err != nil || m.Format != FormatBin {
		t.Errorf("fallback to bin: %v %v", m, err)
	}
	_, err = OpenModelDir(dir, FormatSafetensors)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "model.safetensors, model.safetensors.index.json") {
		t.Errorf("forced safetensors: %v", err)
	}
	// No weights at all: the error names every file looked for.
	empty := t.TempDir()
	linkOrCopy(t, filepath.Join(fx, "config.json"), filepath.Join(empty, "config.json"))
	_, err = OpenModelDir(empty, "")
	for _, f := range []string{empty, "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("no weights: error %v lacks %s", err, f)
		}
	}
	// No config.
	if _, err := OpenModelDir(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("no config: %v", err)
	}
	if _, err := OpenModelDir(filepath.Join(empty, "nope"), ""); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("no dir: %v", err)
	}
	if _, err := OpenModelDir(fx, "onnx"); err == nil {
		t.Error("unknown format accepted")
	}
}

// writeShards splits sd into two safetensors shards in dir, with an index.
func writeShards(t *testing.T, dir string, sd *StateDict) {
	t.Helper()
	parts := []*StateDict{NewStateDict(), NewStateDict()}
	names := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	wm := map[string]string{}
	for i, n := range sd.Names {
		parts[i%2].Set(n, sd.Get(n))
		wm[n] = names[i%2]
	}
	for i, p := range parts {
		if err := WriteSafetensors(filepath.Join(dir, names[i]), p, nil); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(t, filepath.Join(dir, "model.safetensors.index.json"), map[string]any{"metadata": map[string]any{"total_size": sd.Bytes()}, "weight_map": wm})
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestShardedModelDir(t *testing.T) {
	fx := testenv.SharedPath(t, "fixtures", "roberta-tiny")
	full, err := ReadSafetensors(filepath.Join(fx, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	linkOrCopy(t, filepath.Join(fx, "config.json"), filepath.Join(dir, "config.json"))
	writeShards(t, dir, full)
	m, err := OpenModelDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) != 2 || filepath.Base(m.WeightsPath) != "model.safetensors.index.json" {
		t.Fatalf("shards %v, weights %s", m.Shards, m.WeightsPath)
	}
	sd, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	if sd.Len() != full.Len() {
		t.Fatalf("%d tensors from shards, %d in the file", sd.Len(), full.Len())
	}
	for _, n := range full.Names {
		if !sd.Get(n).Equal(full.Get(n)) {
			t.Errorf("%s differs", n)
		}
	}

	// A .bin index over the fixture's single .bin (one shard).
	bdir := t.TempDir()
	linkOrCopy(t, filepath.Join(fx, "config.json"), filepath.Join(bdir, "config.json"))
	linkOrCopy(t, filepath.Join(fx, "pytorch_model.bin"), filepath.Join(bdir, "pytorch_model-00001-of-00001.bin"))
	wm := map[string]string{}
	for _, n := range full.Names {
		wm[n] = "pytorch_model-00001-of-00001.bin"
	}
	writeJSON(t, filepath.Join(bdir, "pytorch_model.bin.index.json"), map[string]any{"weight_map": wm})
	mb, err := OpenModelDir(bdir, "")
	if err != nil || mb.Format != FormatBin {
		t.Fatalf("bin index: %v %v", mb, err)
	}
	if sd, err := mb.Load(); err != nil || sd.Len() != 45 {
		t.Fatalf("bin shards: %v", err)
	}

	// weight_map names a tensor no shard has.
	wm["ghost.weight"] = "pytorch_model-00001-of-00001.bin"
	writeJSON(t, filepath.Join(bdir, "pytorch_model.bin.index.json"), map[string]any{"weight_map": wm})
	mb, err = OpenModelDir(bdir, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Load(); err == nil || !strings.Contains(err.Error(), "ghost.weight") {
		t.Errorf("ghost tensor: %v", err)
	}
	// A missing shard and a path-escaping shard name.
	wm["ghost.weight"] = "pytorch_model-00002-of-00002.bin"
	writeJSON(t, filepath.Join(bdir, "pytorch_model.bin.index.json"), map[string]any{"weight_map": wm})
	if _, err := OpenModelDir(bdir, ""); err == nil || !strings.Contains(err.Error(), "pytorch_model-00002-of-00002.bin") {
		t.Errorf("missing shard: %v", err)
	}
	wm["ghost.weight"] = "../evil.bin"
	writeJSON(t, filepath.Join(bdir, "pytorch_model.bin.index.json"), map[string]any{"weight_map": wm})
	if _, err := OpenModelDir(bdir, ""); err == nil || !strings.Contains(err.Error(), "../evil.bin") {
		t.Errorf("escaping shard: %v", err)
	}
}

func TestResolveModel(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HOME", home)
	hub := filepath.Join(home, "hub")
	mk := func(repo, ref, hash string) string {
		snap := filepath.Join(hub, repo, "snapshots", hash)
		if err := os.MkdirAll(snap, 0o755); err != nil {
			t.Fatal(err)
		}
		if ref != "" {
			os.MkdirAll(filepath.Join(hub, repo, "refs"), 0o755)
			if err := os.WriteFile(filepath.Join(hub, repo, "refs", ref), []byte(hash+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return snap
	}
	large := mk("models--FacebookAI--roberta-large", "main", "abc123")
	mk("models--FacebookAI--roberta-large", "", "old456") // a second, older snapshot
	base := mk("models--roberta-base", "main", "def789")
	opt := mk("models--facebook--opt-125m", "", "0123")

	cases := []struct{ in, want string }{
		{"roberta-large", large},            // bare name found under its FacebookAI alias
		{"FacebookAI/roberta-large", large}, // the id itself
		{"roberta-large@old456", filepath.Join(hub, "models--FacebookAI--roberta-large", "snapshots", "old456")},
		{"FacebookAI/roberta-base", base}, // org id found under the old bare cache name
		{"roberta-base", base},
		{"facebook/opt-125m", opt}, // no refs/main, one snapshot
		{large, large},             // a directory is used as is
	}
	for _, c := range cases {
		got, err := ResolveModel(c.in)
		if err != nil || got != c.want {
			t.Errorf("ResolveModel(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	// HF_HUB_CACHE wins over HF_HOME.
	other := t.TempDir()
	t.Setenv("HF_HUB_CACHE", other)
	if _, err := ResolveModel("roberta-large"); err == nil {
		t.Error("HF_HUB_CACHE ignored")
	}
	t.Setenv("HF_HUB_CACHE", hub)
	if got, err := ResolveModel("roberta-large"); err != nil || got != large {
		t.Errorf("with HF_HUB_CACHE: %q %v", got, err)
	}
	t.Setenv("HF_HUB_CACHE", "")

	// Missing models: the error says where we looked and how to get it.
	_, err := ResolveModel("FacebookAI/roberta-huge")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(hub, "models--FacebookAI--roberta-huge")) ||
		!strings.Contains(err.Error(), "huggingface-cli download FacebookAI/roberta-huge") || !strings.Contains(err.Error(), "HF_HOME") {
		t.Errorf("missing model: %v", err)
	}
	os.RemoveAll(filepath.Join(hub, "models--FacebookAI--roberta-large"))
	_, err = ResolveModel("roberta-large")
	if err == nil || !strings.Contains(err.Error(), "models--roberta-large or ") || !strings.Contains(err.Error(), "download FacebookAI/roberta-large") {
		t.Errorf("missing aliased model: %v", err)
	}
	if _, err := ResolveModel(filepath.Join(testenv.SharedPath(t, "fixtures", "roberta-tiny"), "config.json")); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("file instead of directory: %v", err)
	}
	if _, err := ResolveModel("./no/such/dir"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing path: %v", err)
	}
	// A ref pointing at a missing snapshot; several snapshots and no ref.
	os.MkdirAll(filepath.Join(hub, "models--x--y", "refs"), 0o755)
	os.WriteFile(filepath.Join(hub, "models--x--y", "refs", "main"), []byte("feed"), 0o644)
	if _, err := ResolveModel("x/y"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("dangling ref: %v", err)
	}
	mk("models--x--z", "", "s1")
	mk("models--x--z", "", "s2")
	if _, err := ResolveModel("x/z"); err == nil || !strings.Contains(err.Error(), "2 snapshots") {
		t.Errorf("ambiguous snapshots: %v", err)
	}
	// Default location without HF_HOME.
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", home)
	if d, src := HubCacheDir(); d != filepath.Join(home, ".cache", "huggingface", "hub") || src != "the default" {
		t.Errorf("default cache %s (%s)", d, src)
	}
}

func TestOpenModelFromCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HOME", home)
	snap := filepath.Join(home, "hub", "models--FacebookAI--roberta-large", "snapshots", "h")
	os.MkdirAll(snap, 0o755)
	os.MkdirAll(filepath.Join(home, "hub", "models--FacebookAI--roberta-large", "refs"), 0o755)
	os.WriteFile(filepath.Join(home, "hub", "models--FacebookAI--roberta-large", "refs", "main"), []byte("h"), 0o644)
	fx := testenv.SharedPath(t, "fixtures", "roberta-tiny")
	for _, f := range []string{"config.json", "pytorch_model.bin"} {
		linkOrCopy(t, filepath.Join(fx, f), filepath.Join(snap, f))
	}
	m, err := OpenModel("roberta-large", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != snap || m.Format != FormatBin {
		t.Errorf("%+v", m)
	}
}
