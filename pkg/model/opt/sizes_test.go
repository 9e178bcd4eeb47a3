package opt

import (
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
)

// TestSizesParameterCounts: the parameter counts of facebook/opt-125m …
// opt-13b as Hugging Face reports them (model.num_parameters(), tied head
// once); opt-125m's and opt-350m's were also worked out by hand.
func TestSizesParameterCounts(t *testing.T) {
	for _, c := range []struct {
		name string
		want int64
	}{{"opt-125m", 125239296}, {"opt-350m", 331196416}, {"opt-1.3b", 1315758080}, {"opt-2.7b", 2651596800},
		{"opt-6.7b", 6658473984}, {"opt-13b", 12853473280}} {
		s, err := LookupSize(c.name)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ConfigFrom(s.HFConfig())
		if err != nil {
			t.Fatal(err)
		}
		if got := NumParams(cfg); got != c.want {
			t.Errorf("%s: %d parameters, want %d", c.name, got, c.want)
		}
	}
	if _, err := LookupSize("opt-66b"); err == nil {
		t.Error("an unknown size was accepted")
	}
}

// TestEstimateMemoryMatchesMeasuredPeak: the MeZO (inference) activation
// estimate is within 50% of the peak the counting allocator measures for a
// decoder pass (TestDecodeFreesAsItGoes's model), for 1 and 6 layers.
func TestEstimateMemoryMatchesMeasuredPeak(t *testing.T) {
	for _, layers := range []int{1, 6} {
		peak, _ := decodePeak(t, layers, ForwardOptions{})
		c := Config{VocabSize: 500, Hidden: 128, Layers: layers, Heads: 4, FFN: 512, EmbedDim: 128, MaxPositions: 64,
			PadID: 1, PreLN: true, FinalLN: true, Affine: true, Bias: true, Tied: true}
		est := EstimateMemory(c, torch.Float32, 8, 64, 0, false)
		t.Logf("%d layers: measured %d B, estimated %d B", layers, peak, est.Activations)
		if r := float64(est.Activations) / float64(peak); r < 0.5 || r > 1.5 {
			t.Errorf("%d layers: estimate %d B is %.2f× the measured %d B", layers, est.Activations, r, peak)
		}
	}
}

// TestSizesTable logs the memory table of recipes/opt/README.md: every
// size in float16 (MeZO, as large_models' --load_float16) and FT (AdamW),
// batch 16 SST-2-length prompts (2 candidates × 16 examples, length 64, one
// option token).
func TestSizesTable(t *testing.T) {
	const GiB = 1 << 30
	for _, s := range Sizes {
		cfg, err := ConfigFrom(s.HFConfig())
		if err != nil {
			t.Fatal(err)
		}
		z := EstimateMemory(cfg, torch.Float16, 32, 64, 1, false)
		f := EstimateMemory(cfg, torch.Float16, 32, 64, 1, true)
		t.Logf("| %s | %.2fB | %.1f GiB | %.1f GiB |", s.Name, float64(NumParams(cfg))/1e9, float64(z.Total())/GiB, float64(f.Total())/GiB)
	}
}
