package roberta

import (
	"strings"
	"testing"

	"github.com/gomezo/gomezo/pkg/hf"
)

func tinyModel(t *testing.T, head Head) *Model {
	t.Helper()
	cfg := &hf.Config{ModelType: "roberta", VocabSize: 50, HiddenSize: 8, NumHiddenLayers: 1, NumAttentionHeads: 2,
		IntermediateSize: 16, MaxPositionEmbeddings: 20, TypeVocabSize: 1, PadTokenID: 1, LayerNormEps: 1e-5,
		HiddenAct: "gelu", InitializerRange: 0.02}
	m, err := New(cfg, Options{Head: head, NumLabels: 2, InitSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestWriteLinearHead: the rows land in the label words' decoder rows and
// lm_head.bias entries (rounded to float32), nothing else moves; the bare
// classifier is replaced whole; bad shapes, ids and a tied decoder are
// errors.
func TestWriteLinearHead(t *testing.T) {
	m := tinyModel(t, Prompt)
	read := func(name string) []float32 {
		v, err := m.Params.Get(name).T.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	W := [][]float64{make([]float64, 8), make([]float64, 8)}
	for j := range W[0] {
		W[0][j], W[1][j] = 0.1*float64(j)+1e-9, -float64(j)
	}
	b := []float64{0.25, -1.0 / 3}
	dec0, bias0 := read("lm_head.decoder.weight"), read("lm_head.bias")
	words := []int64{7, 3}
	if err := m.WriteLinearHead(words, W, b); err != nil {
		t.Fatal(err)
	}
	dec, bias := read("lm_head.decoder.weight"), read("lm_head.bias")
	for r := 0; r < 50; r++ {
		c := map[int]int{7: 0, 3: 1}[r]
		_, written := map[int]int{7: 0, 3: 1}[r]
		for j := 0; j < 8; j++ {
			want := dec0[r*8+j]
			if written {
				want = float32(W[c][j])
			}
			if dec[r*8+j] != want {
				t.Fatalf("decoder[%d][%d] = %v, want %v", r, j, dec[r*8+j], want)
			}
		}
		want := bias0[r]
		if written {
			want = float32(b[c])
		}
		if bias[r] != want {
			t.Fatalf("lm_head.bias[%d] = %v, want %v", r, bias[r], want)
		}
	}
	if err := m.WriteLinearHead(nil, W, b); err != nil {
		t.Fatal(err)
	}
	cw, cb := read("classifier.weight"), read("classifier.bias")
	for c := range W {
		for j := range W[c] {
			if cw[c*8+j] != float32(W[c][j]) {
				t.Fatalf("classifier.weight[%d][%d] = %v", c, j, cw[c*8+j])
			}
		}
		if cb[c] != float32(b[c]) {
			t.Fatalf("classifier.bias[%d] = %v", c, cb[c])
		}
	}
	for _, c := range []struct {
		words []int64
		W     [][]float64
		b     []float64
		want  string
	}{
		{[]int64{7, 50}, W, b, "outside the vocabulary"},
		{[]int64{7}, W, b, "2 rows for 1 label words"},
		{words, [][]float64{W[0][:4], W[1][:4]}, b, "hidden size is 8"},
		{words, W, b[:1], "2 weight rows and 1 biases"},
	} {
		if err := m.WriteLinearHead(c.words, c.W, c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.words, err, c.want)
		}
	}
	if err := tinyModel(t, MaskedLM).WriteLinearHead(words, W, b); err == nil || !strings.Contains(err.Error(), "tied") {
		t.Errorf("tied decoder: %v", err)
	}
	if err := tinyModel(t, SeqCls).WriteLinearHead(nil, W, b); err == nil || !strings.Contains(err.Error(), "no bare linear classifier") {
		t.Errorf("seqcls: %v", err)
	}
}
