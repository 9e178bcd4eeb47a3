package hf

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// robertaExpect builds what a RobertaForMaskedLM loader would expect of
// roberta-tiny.
func robertaExpect(source string) *Expect {
	e := &Expect{Source: source}
	for name, shape := range robertaShapes(true) {
		if name == "roberta.embeddings.position_ids" {
			continue
		}
		if strings.HasPrefix(name, "lm_head.decoder.") {
			e.AddOptional(name, F32, shape...)
			continue
		}
		e.Add(name, F32, shape...)
	}
	e.Ignore("roberta.embeddings.position_ids", "roberta.pooler.*")
	return e
}

func TestExpectPasses(t *testing.T) {
	path := testenv.SharedPath(t, "fixtures", "roberta-tiny", "model.safetensors")
	sd, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	e := robertaExpect(path)
	if err := e.Check(sd); err != nil {
		t.Fatal(err)
	}
	// The decoder keys are optional: without them the check still passes,
	// and FillTied restores them from the embeddings and lm_head.bias.
	sd.Delete("lm_head.decoder.weight")
	sd.Delete("lm_head.decoder.bias")
	if err := e.Check(sd); err != nil {
		t.Fatal(err)
	}
	filled := sd.FillTied(RobertaTied)
	if !slices.Equal(filled, []string{"lm_head.decoder.weight", "lm_head.decoder.bias"}) {
		t.Errorf("filled %v", filled)
	}
	if !sd.Get("lm_head.decoder.weight").Equal(sd.Get("roberta.embeddings.word_embeddings.weight")) {
		t.Error("decoder not filled from the embeddings")
	}
	sd.Get("lm_head.decoder.weight").Data[0] ^= 1
	if sd.Get("lm_head.decoder.weight").Equal(sd.Get("roberta.embeddings.word_embeddings.weight")) {
		t.Error("filled tensor shares its source's data")
	}
	if again := sd.FillTied(RobertaTied); len(again) != 0 {
		t.Errorf("filled present keys again: %v", again)
	}
	if err := sd.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestExpectReportsEverything(t *testing.T) {
	path := testenv.SharedPath(t, "fixtures", "roberta-tiny", "seqcls", "model.safetensors")
	sd, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	sd.Delete("roberta.encoder.layer.1.output.dense.bias")
	sd.Set("roberta.pooler.dense.weight", f32t([]int64{1}, []float32{0})) // ignored
	e := robertaExpect(path)
	e.Add("roberta.embeddings.LayerNorm.weight", F64, 32)                // dtype mismatch
	e.Add("roberta.embeddings.token_type_embeddings.weight", F32, 2, 32) // shape mismatch
	err = e.Check(sd)
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("error %v is not a *KeyError", err)
	}
	wantMissing := []string{"lm_head.bias", "lm_head.dense.bias", "lm_head.dense.weight", "lm_head.layer_norm.bias", "lm_head.layer_norm.weight", "roberta.encoder.layer.1.output.dense.bias"}
	got := slices.Clone(ke.Missing)
	slices.Sort(got)
	if !slices.Equal(got, wantMissing) {
		t.Errorf("missing %v, want %v", got, wantMissing)
	}
	wantUnexpected := []string{"classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias", "classifier.out_proj.weight"}
	got = slices.Clone(ke.Unexpected)
	slices.Sort(got)
	if !slices.Equal(got, wantUnexpected) {
		t.Errorf("unexpected %v, want %v", got, wantUnexpected)
	}
	if len(ke.Mismatched) != 2 {
		t.Fatalf("mismatched %+v", ke.Mismatched)
	}
	msg := err.Error()
	for _, s := range append(append(wantMissing, wantUnexpected...),
		path, "6 missing, 4 unexpected, 2 mismatched",
		"roberta.embeddings.LayerNorm.weight: checkpoint F32[32], model wants F64 [32]",
		"roberta.embeddings.token_type_embeddings.weight: checkpoint F32[1 32], model wants F32 [2 32]") {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, "pooler") {
		t.Error("ignored key reported")
	}
}

func TestCheckpointLazy(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "roberta-tiny")
	want, err := ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{FormatSafetensors, FormatBin} {
		m, err := OpenModelDir(dir, f)
		if err != nil {
			t.Fatal(err)
		}
		ck, err := m.Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := robertaExpect(m.WeightsPath).CheckCheckpoint(ck); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if ck.Len() != 45 || len(ck.Infos()) != 45 || !ck.Has("lm_head.bias") || ck.Has("nope") {
			t.Errorf("%s: %d names", f, ck.Len())
		}
		for _, n := range ck.Names() {
			info, _ := ck.Info(n)
			buf := make([]byte, info.Bytes())
			if err := ck.ReadInto(n, buf); err != nil {
				t.Fatal(err)
			}
			if w := want.Get(n); string(buf) != string(w.Data) || !slices.Equal(info.Shape, w.Shape) || info.DType != w.DType {
				t.Errorf("%s: %s differs", f, n)
			}
		}
		if err := ck.ReadInto("lm_head.bias", make([]byte, 3)); err == nil {
			t.Errorf("%s: short destination accepted", f)
		}
		if _, err := ck.Read("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("%s: missing tensor: %v", f, err)
		}
		if err := ck.Close(); err != nil {
			t.Error(err)
		}
	}
	tb, err := OpenTorchBin(filepath.Join(dir, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if !tb.SameStorage("lm_head.decoder.weight", "roberta.embeddings.word_embeddings.weight") || !tb.SameStorage("lm_head.bias", "lm_head.decoder.bias") {
		t.Error("tied tensors do not share storage in the .bin")
	}
	if tb.SameStorage("lm_head.bias", "lm_head.dense.bias") {
		t.Error("untied tensors share storage")
	}
}

func TestStateDictEditing(t *testing.T) {
	sd := NewStateDict()
	sd.Set("embeddings.word_embeddings.weight", f32t([]int64{1}, []float32{1}))
	sd.Set("encoder.layer.0.attention.output.LayerNorm.gamma", f32t([]int64{1}, []float32{2}))
	sd.Set("encoder.layer.0.attention.output.LayerNorm.beta", f32t([]int64{1}, []float32{3}))
	sd.Set("lm_head.bias", f32t([]int64{1}, []float32{4}))
	sd.Set("pooler.dense.weight", f32t([]int64{1}, []float32{5}))
	n, err := sd.NormalizeRobertaKeys()
	if err != nil || n != 4 {
		t.Fatalf("renamed %d, %v", n, err)
	}
	want := []string{"roberta.embeddings.word_embeddings.weight", "roberta.encoder.layer.0.attention.output.LayerNorm.weight",
		"roberta.encoder.layer.0.attention.output.LayerNorm.bias", "lm_head.bias", "roberta.pooler.dense.weight"}
	if !slices.Equal(sd.Names, want) {
		t.Errorf("names %v", sd.Names)
	}
	if v, _ := sd.Get("roberta.encoder.layer.0.attention.output.LayerNorm.bias").Float32s(); v[0] != 3 {
		t.Error("tensor moved with the wrong name")
	}
	if err := sd.Rename(ReplacePrefix("roberta.", "")); err != nil || sd.Names[0] != "embeddings.word_embeddings.weight" || sd.Names[3] != "lm_head.bias" {
		t.Errorf("strip prefix: %v %v", sd.Names, err)
	}
	before := slices.Clone(sd.Names)
	if err := sd.Rename(func(string) string { return "same" }); err == nil || !strings.Contains(err.Error(), "same") {
		t.Errorf("collision: %v", err)
	}
	if !slices.Equal(sd.Names, before) {
		t.Error("failed rename changed the dict")
	}
	sd.Filter(func(n string) bool { return !strings.HasPrefix(n, "pooler.") })
	sd.Delete("lm_head.bias")
	sd.Delete("absent")
	if sd.Len() != 3 || sd.Has("pooler.dense.weight") || sd.Has("lm_head.bias") || len(sd.Tensors) != 3 {
		t.Errorf("after filter/delete: %v", sd.Names)
	}
	sd.Set("embeddings.word_embeddings.weight", f32t([]int64{1}, []float32{9}))
	if sd.Names[0] != "embeddings.word_embeddings.weight" || sd.Len() != 3 {
		t.Error("replacing moved or duplicated the name")
	}
	if err := sd.Validate(); err != nil {
		t.Fatal(err)
	}
	sd.Names = append(sd.Names, "ghost")
	if err := sd.Validate(); err == nil {
		t.Error("inconsistent dict validated")
	}
}

func TestTensorBasics(t *testing.T) {
	x := f32t([]int64{2, 2}, []float32{1, 2, 3, 4})
	if x.NumElements() != 4 || x.String() != "F32[2 2]" {
		t.Errorf("%v %d", x, x.NumElements())
	}
	s := f64t(nil, []float64{2.5})
	if s.NumElements() != 1 || len(s.Data) != 8 {
		t.Error("scalar")
	}
	if (&Tensor{DType: F32, Shape: []int64{-1}}).NumElements() != -1 {
		t.Error("negative dims")
	}
	if _, err := FromFloat32s([]int64{2, 2}, []float32{1, 2, 3}); err == nil {
		t.Error("FromFloat32s accepted 3 values for shape [2 2]")
	}
	if _, err := FromInt64s([]int64{-1}, nil); err == nil {
		t.Error("FromInt64s accepted a negative dimension")
	}
	if _, err := NewTensor(F32, []int64{3}, make([]byte, 12)); err != nil {
		t.Error(err)
	}
	if _, err := NewTensor(F32, []int64{3}, make([]byte, 11)); err == nil {
		t.Error("short data accepted")
	}
	if _, err := NewTensor("X9", []int64{3}, make([]byte, 3)); err == nil || !strings.Contains(err.Error(), "X9") {
		t.Errorf("unknown dtype: %v", err)
	}
	c := x.Clone()
	c.Data[0] = 7
	c.Shape[0] = 9
	if x.Data[0] == 7 || x.Shape[0] == 9 {
		t.Error("Clone shares memory")
	}
	if (TensorInfo{DType: BF16, Shape: []int64{3, 5}}).Bytes() != 30 {
		t.Error("TensorInfo.Bytes")
	}
}

func TestCheckpointFillTied(t *testing.T) {
	sd, err := ReadSafetensors(testenv.SharedPath(t, "fixtures", "roberta-tiny", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sd.Delete("lm_head.decoder.weight")
	p := writeTemp(t, sd)
	ck, err := OpenWeights(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if filled := ck.FillTied(RobertaTied); !slices.Equal(filled, []string{"lm_head.decoder.weight"}) {
		t.Fatalf("filled %v", filled)
	}
	if err := robertaExpect(p).CheckCheckpoint(ck); err != nil {
		t.Fatal(err)
	}
	dec, err := ck.Read("lm_head.decoder.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !dec.Equal(sd.Get("roberta.embeddings.word_embeddings.weight")) || ck.Names()[ck.Len()-1] != "lm_head.decoder.weight" {
		t.Error("filled decoder is not the word embeddings")
	}
}
