// Package reftest holds what the tests that replay the reference's recorded
// runs share: reading float32 values recorded as hex bits, loading a
// fixture's initial prompt model, and comparing final states.
package reftest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
)

// F32 decodes a float32 recorded as the hex of its bits ("0x40148025").
func F32(t testing.TB, hex string) float32 {
	t.Helper()
	u, err := strconv.ParseUint(hex, 0, 32)
	if err != nil {
		t.Fatalf("bad float32 hex %q", hex)
	}
	return math.Float32frombits(uint32(u))
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// PromptModel loads a fixture folder's config.json and initial.safetensors
// (the reference prompt model's full initial state) with labels label words.
func PromptModel(t testing.TB, dir string, labels int) *roberta.Model {
	t.Helper()
	cfg, err := hf.ReadConfig(dir)
	Must(t, err)
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "initial.safetensors"))
	Must(t, err)
	m, err := roberta.FromStateDict(cfg, sd, filepath.Join(dir, "initial.safetensors"), roberta.Options{Head: roberta.Prompt, NumLabels: labels})
	Must(t, err)
	return m
}

// FinalComparison says how a model's parameters compare with a recorded
// final state.
type FinalComparison struct {
	Tensors   int      // parameters compared
	Identical int      // of them, equal bit for bit
	Differ    []string // names of the others
	// SumOff names the parameters whose float64 sum is off by more than
	// 1e-3 of the sum of magnitudes (the fixtures' suggested tolerance for
	// runs whose forward passes round differently).
	SumOff []string
}

// CompareFinal compares every parameter of m with the tensor of the same
// name in the safetensors file path; a missing name fails the test.
func CompareFinal(t testing.TB, m *roberta.Model, path string) FinalComparison {
	t.Helper()
	final, err := hf.ReadSafetensors(path)
	Must(t, err)
	var c FinalComparison
	for _, p := range m.Params.All() {
		want, ok := final.Tensors[p.Name]
		if !ok {
			t.Fatalf("%s has no %s", path, p.Name)
		}
		gotBytes, err := p.T.Bytes()
		Must(t, err)
		c.Tensors++
		if string(gotBytes) == string(want.Data) {
			c.Identical++
			continue
		}
		c.Differ = append(c.Differ, p.Name)
		got, err := p.T.Float32s()
		Must(t, err)
		w, err := want.Float32s()
		Must(t, err)
		var gs, ws, mag float64
		for i := range got {
			gs += float64(got[i])
			ws += float64(w[i])
			mag += math.Abs(float64(w[i]))
		}
		if math.Abs(gs-ws) > 1e-3*mag {
			c.SumOff = append(c.SumOff, p.Name)
		}
	}
	return c
}

// ReadJSON decodes the JSON file path into v.
func ReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	Must(t, err)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// FixtureBatch is a batch as the trajectory fixtures record it.
type FixtureBatch struct {
	InputIDs      [][]int64 `json:"input_ids"`
	AttentionMask [][]int64 `json:"attention_mask"`
	MaskPos       []int64   `json:"mask_pos"`
	Labels        []int64   `json:"labels"`
	LabelWords    []int64   `json:"label_word_list"`
}

// Host is the recorded batch as a host batch.
func (b FixtureBatch) Host() *batch.Batch {
	return Batch(b.InputIDs, b.AttentionMask, b.MaskPos, b.Labels)
}

// Batch turns a fixture's recorded rows into a host batch.
func Batch(ids, mask [][]int64, maskPos, labels []int64) *batch.Batch {
	b := &batch.Batch{Size: len(ids), MaskPos: maskPos, Labels: labels}
	if len(ids) > 0 {
		b.Len = len(ids[0])
	}
	for i := range ids {
		b.InputIDs = append(b.InputIDs, ids[i]...)
		b.AttentionMask = append(b.AttentionMask, mask[i]...)
	}
	return b
}
