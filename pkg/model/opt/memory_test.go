package opt

import (
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
)

// decodePeak builds a random OPT of the given depth and returns the peak of
// live CPU tensor bytes above what was live before one inference decoder
// pass, and the size of one [B, L, H] activation.
func decodePeak(t *testing.T, layers int, fo ForwardOptions) (peak, act int64) {
	t.Helper()
	const H, B, L = 128, 8, 64
	c := &hf.Config{ModelType: "opt", VocabSize: 500, HiddenSize: H, NumHiddenLayers: layers, NumAttentionHeads: 4,
		FFNDim: 4 * H, MaxPositionEmbeddings: L, WordEmbedProjDim: H, PadTokenID: 1, DoLayerNormBefore: true,
		LayerNormElementwiseAffine: true, EnableBias: true, TieWordEmbeddings: true, ActivationFunction: "relu"}
	start, err := torch.CPUMemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(c, Options{InitSeed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids, mask := make([]int64, B*L), make([]int64, B*L)
	for i := range ids {
		ids[i], mask[i] = int64(3+i*7%490), 1
	}
	before, err := torch.CPUMemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	if !before.Counting {
		t.Fatal("the shim's counting CPU allocator is off (MZ_DEFAULT_CPU_ALLOCATOR set?)")
	}
	s := torch.NewScope(torch.Inference)
	in := Inputs{InputIDs: s.FromInt64s(ids, []int64{B, L}, torch.CPU), AttentionMask: s.FromInt64s(mask, []int64{B, L}, torch.CPU)}
	base, _ := torch.CPUMemoryStats()
	if err := torch.ResetCPUPeak(); err != nil {
		t.Fatal(err)
	}
	dec := m.Decode(s, in, fo)
	if err := s.Err(); err != nil || dec.Last == nil {
		t.Fatal(err)
	}
	after, _ := torch.CPUMemoryStats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What outlives the pass is the model's: its parameters and the
	// causal mask it caches; closing it frees everything.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed, _ := torch.CPUMemoryStats()
	if closed.Live != start.Live {
		t.Errorf("%d layers: %d tensor bytes still live after the pass's scope and the model closed", layers, closed.Live-start.Live)
	}
	return after.Peak - base.Live, B * L * H * 4
}

// TestDecodeFreesAsItGoes: the tensor memory an inference pass holds at
// its peak does not grow with depth, while a pass asked to keep every
// layer's output (the control) grows by at least one [B, L, H] activation
// per layer, which shows the measurement sees kept tensors.
func TestDecodeFreesAsItGoes(t *testing.T) {
	p1, act := decodePeak(t, 1, ForwardOptions{})
	p6, _ := decodePeak(t, 6, ForwardOptions{})
	t.Logf("peak activations: 1 layer %d B, 6 layers %d B (one [B, L, H] activation is %d B)", p1, p6, act)
	if p1 <= 0 {
		t.Fatalf("no activation memory measured (%d)", p1)
	}
	if p6 > p1+act/2 {
		t.Errorf("6 layers hold %d B at the peak, 1 layer %d B: intermediates are kept across layers", p6, p1)
	}
	k1, _ := decodePeak(t, 1, ForwardOptions{Hidden: true})
	k6, _ := decodePeak(t, 6, ForwardOptions{Hidden: true})
	if k6-k1 < 5*act {
		t.Errorf("control: keeping every layer's output grew the peak by %d B from 1 to 6 layers, want ≥ %d", k6-k1, 5*act)
	}
}
