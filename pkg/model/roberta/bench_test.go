package roberta

import (
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
)

// BenchmarkStepParts times the parts of a MeZO step on the shape FINDINGS.md
// measured the reference on (RoBERTa-base width, 4 layers, vocabulary 50265,
// batch 16, length 128, fp32): one forward pass, one perturbation pass and
// one update pass over the prompt model's 68M parameters. It reports
// perturb/forward so the cost of regenerating z is read against the forward
// pass measured in the same run. Run with
//
//	go test -run '^$' -bench StepParts -benchtime 3x ./pkg/model/roberta
func BenchmarkStepParts(b *testing.B) {
	cfg := &hf.Config{ModelType: "roberta", VocabSize: 50265, HiddenSize: 768, NumHiddenLayers: 4,
		NumAttentionHeads: 12, IntermediateSize: 3072, MaxPositionEmbeddings: 514, TypeVocabSize: 1,
		PadTokenID: 1, LayerNormEps: 1e-5, HiddenAct: "gelu", InitializerRange: 0.02}
	m, err := New(cfg, Options{Head: Prompt, NumLabels: 2, InitSeed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	pl, err := m.Params.TrainableList()
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Close()
	const B, L = 16, 128
	batch := Batch{B: B, L: L}
	for i := 0; i < B*L; i++ {
		batch.InputIDs = append(batch.InputIDs, int64(3+(i*7919)%50000))
		batch.AttentionMask = append(batch.AttentionMask, 1)
	}
	for i := 0; i < B; i++ {
		batch.MaskPos = append(batch.MaskPos, int64(i+1))
		batch.Labels = append(batch.Labels, int64(i%2))
	}
	words, _ := torch.FromInt64s([]int64{10, 20}, []int64{2}, torch.CPU)
	defer words.Close()
	forward := func() {
		s := torch.NewScope(torch.Inference)
		in, mp, lb := batch.Tensors(s, torch.CPU)
		enc := m.Encode(s, in, ForwardOptions{})
		l := Loss(s, m.PromptLogits(s, enc.Last, mp, words), lb)
		if _, err := l.Item(); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	var fwdNs float64
	b.Run("forward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			forward()
		}
		fwdNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("perturb", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := pl.Perturb(uint64(i), 1, 1e-3); err != nil {
				b.Fatal(err)
			}
		}
		if fwdNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fwdNs, "perturb/forward")
		}
	})
	b.Run("update", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := pl.Update(uint64(i), 0.5, 1e-6, 0); err != nil {
				b.Fatal(err)
			}
		}
		if fwdNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fwdNs, "update/forward")
		}
	})
}
