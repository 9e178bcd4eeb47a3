package hf

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// robertaShapes lists roberta-tiny's state dict per ../shared/fixtures/README.md
// (V=1000, H=32, I=64, P=66, 2 layers).
func robertaShapes(mlm bool) map[string][]int64 {
	const V, H, I, P = 1000, 32, 64, 66
	m := map[string][]int64{
		"roberta.embeddings.position_ids":                 {1, P},
		"roberta.embeddings.word_embeddings.weight":       {V, H},
		"roberta.embeddings.position_embeddings.weight":   {P, H},
		"roberta.embeddings.token_type_embeddings.weight": {1, H},
		"roberta.embeddings.LayerNorm.weight":             {H},
		"roberta.embeddings.LayerNorm.bias":               {H},
	}
	for l := 0; l < 2; l++ {
		p := fmt.Sprintf("roberta.encoder.layer.%d.", l)
		for _, n := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			m[p+n+".weight"] = []int64{H, H}
			m[p+n+".bias"] = []int64{H}
		}
		for _, n := range []string{"attention.output.LayerNorm", "output.LayerNorm"} {
			m[p+n+".weight"] = []int64{H}
			m[p+n+".bias"] = []int64{H}
		}
		m[p+"intermediate.dense.weight"] = []int64{I, H}
		m[p+"intermediate.dense.bias"] = []int64{I}
		m[p+"output.dense.weight"] = []int64{H, I}
		m[p+"output.dense.bias"] = []int64{H}
	}
	if mlm {
		m["lm_head.dense.weight"] = []int64{H, H}
		m["lm_head.dense.bias"] = []int64{H}
		m["lm_head.layer_norm.weight"] = []int64{H}
		m["lm_head.layer_norm.bias"] = []int64{H}
		m["lm_head.decoder.weight"] = []int64{V, H}
		m["lm_head.decoder.bias"] = []int64{V}
		m["lm_head.bias"] = []int64{V}
	} else {
		m["classifier.dense.weight"] = []int64{H, H}
		m["classifier.dense.bias"] = []int64{H}
		m["classifier.out_proj.weight"] = []int64{3, H}
		m["classifier.out_proj.bias"] = []int64{3}
	}
	return m
}

func optShapes() map[string][]int64 {
	const V, H, F = 1000, 32, 64
	m := map[string][]int64{
		"model.decoder.embed_tokens.weight":     {V, H},
		"model.decoder.embed_positions.weight":  {66, H},
		"model.decoder.final_layer_norm.weight": {H},
		"model.decoder.final_layer_norm.bias":   {H},
		"lm_head.weight":                        {V, H},
	}
	for l := 0; l < 2; l++ {
		p := fmt.Sprintf("model.decoder.layers.%d.", l)
		for _, n := range []string{"k_proj", "v_proj", "q_proj", "out_proj"} {
			m[p+"self_attn."+n+".weight"] = []int64{H, H}
			m[p+"self_attn."+n+".bias"] = []int64{H}
		}
		for _, n := range []string{"self_attn_layer_norm", "final_layer_norm"} {
			m[p+n+".weight"] = []int64{H}
			m[p+n+".bias"] = []int64{H}
		}
		m[p+"fc1.weight"] = []int64{F, H}
		m[p+"fc1.bias"] = []int64{F}
		m[p+"fc2.weight"] = []int64{H, F}
		m[p+"fc2.bias"] = []int64{H}
	}
	return m
}

// checkBothFormats reads dir's model.safetensors and pytorch_model.bin,
// checks both against shapes and against each other bit for bit, and
// returns the safetensors state dict.
func checkBothFormats(t *testing.T, dir string, shapes map[string][]int64, firstBinKey string) *StateDict {
	t.Helper()
	st, err := ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := ReadTorchBin(filepath.Join(dir, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sd := range []*StateDict{st, bin} {
		if err := sd.Validate(); err != nil {
			t.Fatal(err)
		}
		if sd.Len() != len(shapes) {
			t.Errorf("%d tensors, want %d", sd.Len(), len(shapes))
		}
		for name, shape := range shapes {
			got := sd.Get(name)
			if got == nil {
				t.Errorf("missing %s", name)
				continue
			}
			if !slices.Equal(got.Shape, shape) {
				t.Errorf("%s: shape %v, want %v", name, got.Shape, shape)
			}
		}
	}
	for _, name := range st.Names {
		a, b := st.Get(name), bin.Get(name)
		if b == nil || !a.Equal(b) {
			t.Errorf("%s: safetensors %v and .bin %v differ", name, a, b)
		}
	}
	// Orders: the .bin keeps state_dict order, safetensors the writer's.
	if bin.Names[0] != firstBinKey {
		t.Errorf(".bin starts with %s, want %s", bin.Names[0], firstBinKey)
	}
	if !slices.Equal(st.Names, SafetensorsOrder(st)) {
		t.Errorf("safetensors names not in the official writer's order: %v", st.Names[:3])
	}
	return st
}

func TestRobertaTinyFormatsAgree(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "roberta-tiny")
	sd := checkBothFormats(t, dir, robertaShapes(true), "roberta.embeddings.position_ids")
	if sd.Names[0] != "roberta.embeddings.position_ids" || sd.Names[1] != "lm_head.bias" {
		t.Errorf("safetensors order starts %v, want I64 first then by name", sd.Names[:2])
	}
	for _, p := range RobertaTied {
		if !sd.Get(p.Dst).Equal(sd.Get(p.Src)) {
			t.Errorf("tied %s != %s", p.Dst, p.Src)
		}
	}
	pos := sd.Get("roberta.embeddings.position_ids")
	if pos.DType != I64 {
		t.Fatalf("position_ids dtype %s", pos.DType)
	}
	ids, _ := pos.Int64s()
	for i, v := range ids {
		if v != int64(i) {
			t.Fatalf("position_ids[%d] = %d", i, v)
		}
	}
	if len(ids) != 66 {
		t.Fatalf("%d position ids", len(ids))
	}
	// The noise leaves no exact 0 or 1 in the weights (fixtures README).
	w, _ := sd.Get("roberta.embeddings.word_embeddings.weight").Float32s()
	if w[32] == 0 || w[32] == 1 {
		t.Errorf("padding row of word_embeddings is %v", w[32])
	}
}

func TestRobertaTinySeqClsFormatsAgree(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "roberta-tiny", "seqcls")
	sd := checkBothFormats(t, dir, robertaShapes(false), "roberta.embeddings.position_ids")
	// The backbone is the same as the MLM fixture's.
	mlm, err := ReadSafetensors(testenv.SharedPath(t, "fixtures", "roberta-tiny", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sd.Names {
		if m := mlm.Get(name); m != nil && !m.Equal(sd.Get(name)) {
			t.Errorf("%s differs from the MLM fixture", name)
		}
	}
}

func TestOPTTinyFormatsAgree(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "opt-tiny")
	sd := checkBothFormats(t, dir, optShapes(), "model.decoder.embed_tokens.weight")
	if sd.Len() != 37 {
		t.Errorf("%d tensors, want 37", sd.Len())
	}
	for _, p := range OPTTied {
		if !sd.Get(p.Dst).Equal(sd.Get(p.Src)) {
			t.Errorf("tied %s != %s", p.Dst, p.Src)
		}
	}
}

// TestWriteReproducesFixtures writes each fixture's state dict back out and
// expects the very bytes the fixture (laid out like the official library)
// holds.
func TestWriteReproducesFixtures(t *testing.T) {
	for _, rel := range []string{"roberta-tiny/model.safetensors", "roberta-tiny/seqcls/model.safetensors", "opt-tiny/model.safetensors", "roberta-tiny/expected.safetensors"} {
		path := testenv.SharedPath(t, "fixtures", rel)
		sf, err := OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		md := sf.Metadata()
		sd, err := sf.ReadAll()
		sf.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.safetensors")
		if err := WriteSafetensors(out, sd, md); err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(path)
		got, _ := os.ReadFile(out)
		if rel == "roberta-tiny/expected.safetensors" {
			// Written by hand in name order, not the official order:
			// compare contents instead of bytes.
			back, err := ReadSafetensors(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range sd.Names {
				if !back.Get(n).Equal(sd.Get(n)) {
					t.Errorf("%s: %s round trip differs", rel, n)
				}
			}
			continue
		}
		if !bytes.Equal(got, want) {
			n := 0
			for n < len(got) && n < len(want) && got[n] == want[n] {
				n++
			}
			t.Errorf("%s: rewritten file differs from byte %d (%d vs %d bytes)", rel, n, len(got), len(want))
		}
	}
}

func TestExpectedSafetensorsReadable(t *testing.T) {
	sd, err := ReadSafetensors(testenv.SharedPath(t, "fixtures", "roberta-tiny", "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ids := sd.Get("input_ids")
	if ids == nil || ids.DType != I64 || !slices.Equal(ids.Shape, []int64{3, 12}) {
		t.Fatalf("input_ids = %v", ids)
	}
	v, _ := ids.Int64s()
	if !slices.Equal(v[:12], []int64{0, 250, 749, 422, 366, 999, 954, 92, 534, 984, 636, 2}) {
		t.Errorf("input_ids row 0 = %v", v[:12])
	}
	loss, _ := sd.Get("loss").Float32s()
	if len(loss) != 1 || loss[0] != float32(1.1371923685073853) {
		t.Errorf("loss = %v", loss)
	}
	logits := sd.Get("mlm_logits")
	if logits == nil || !slices.Equal(logits.Shape, []int64{3, 12, 1000}) {
		t.Errorf("mlm_logits = %v", logits)
	}
	grads := 0
	for _, n := range sd.Names {
		if len(n) > 5 && n[:5] == "grad." {
			grads++
		}
	}
	if grads != 42 {
		t.Errorf("%d grad.* tensors, want 42", grads)
	}
	f64, err := ReadSafetensors(testenv.SharedPath(t, "fixtures", "roberta-tiny", "expected_f64.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	l64, err := f64.Get("loss").Float64s()
	if err != nil || f64.Get("loss").DType != F64 || math.Abs(l64[0]-1.1371923685073853) > 1e-6 {
		t.Errorf("f64 loss = %v (%v)", l64, err)
	}
	names := slices.Clone(sd.Names)
	sort.Strings(names)
	if !slices.Equal(names, func() []string { n := slices.Clone(f64.Names); sort.Strings(n); return n }()) {
		t.Error("expected.safetensors and expected_f64.safetensors hold different keys")
	}
}
