package objective_test

import (
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/objective"
)

// forwardPeak builds a random prompt model of the given depth and returns
// the peak of live CPU tensor bytes above what was live before one
// inference forward pass (the activations the pass held at its peak).
func forwardPeak(t *testing.T, layers int, fo roberta.ForwardOptions) (peak int64, step int64) {
	t.Helper()
	const H, B, L = 128, 8, 64
	cfg := &hf.Config{ModelType: "roberta", VocabSize: 2000, HiddenSize: H, NumHiddenLayers: layers,
		NumAttentionHeads: 4, IntermediateSize: 4 * H, MaxPositionEmbeddings: L + 2, TypeVocabSize: 1,
		PadTokenID: 1, LayerNormEps: 1e-5, HiddenAct: "gelu", InitializerRange: 0.02}
	m, err := roberta.New(cfg, roberta.Options{Head: roberta.Prompt, NumLabels: 2, InitSeed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: []int64{5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	b := &batch.Batch{Size: B, Len: L}
	for i := 0; i < B*L; i++ {
		b.InputIDs = append(b.InputIDs, int64(4+i*7%1990))
		b.AttentionMask = append(b.AttentionMask, 1)
	}
	for r := 0; r < B; r++ {
		b.MaskPos = append(b.MaskPos, int64(1+r))
		b.Labels = append(b.Labels, int64(r%2))
	}
	before, err := torch.CPUMemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	if !before.Counting {
		t.Fatal("the shim's counting CPU allocator is off (MZ_DEFAULT_CPU_ALLOCATOR set?)")
	}
	if err := torch.ResetCPUPeak(); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Inference)
	loss, _ := ob.Forward(s, b, fo)
	if _, err := loss.Item(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := torch.CPUMemoryStats()
	if after.Live != before.Live {
		t.Errorf("%d layers: %d tensor bytes still live after the pass's scope closed", layers, after.Live-before.Live)
	}
	return after.Peak - before.Live, B * L * H * 4
}

// TestForwardFreesAsItGoes: the tensor memory an inference forward pass
// holds at its peak does not grow with depth (each layer's intermediates
// are freed as the layer returns), while a pass asked to keep every layer's
// output (the control) grows by one [B, L, H] activation per layer, which
// shows the measurement sees kept tensors. Counted by the shim's CPU
// allocator, which sees every CPU tensor.
func TestForwardFreesAsItGoes(t *testing.T) {
	p1, act := forwardPeak(t, 1, roberta.ForwardOptions{})
	p6, _ := forwardPeak(t, 6, roberta.ForwardOptions{})
	t.Logf("peak activations: 1 layer %d B, 6 layers %d B (one [B, L, H] activation is %d B)", p1, p6, act)
	if p1 <= 0 {
		t.Fatalf("no activation memory measured (%d)", p1)
	}
	if p6 > p1+act/2 {
		t.Errorf("6 layers hold %d B at the peak, 1 layer %d B: intermediates are kept across layers", p6, p1)
	}
	k1, _ := forwardPeak(t, 1, roberta.ForwardOptions{Hidden: true})
	k6, _ := forwardPeak(t, 6, roberta.ForwardOptions{Hidden: true})
	if k6-k1 < 5*act {
		t.Errorf("control: keeping every layer's output grew the peak by %d B from 1 to 6 layers, want ≥ %d", k6-k1, 5*act)
	}
}
