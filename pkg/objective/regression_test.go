package objective_test

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/objective"
)

// TestRegressionLoss: the STS-B objective is torch's
// KLDivLoss(log_target=True, reduction='mean') of the reference's two-way
// target against the label-word log-probabilities, written out here from
// torch's documented formula, mean over B·2 of exp(t)·(t − p).
func TestRegressionLoss(t *testing.T) {
	cfg := &hf.Config{ModelType: "roberta", VocabSize: 100, HiddenSize: 16, NumHiddenLayers: 1,
		NumAttentionHeads: 2, IntermediateSize: 32, MaxPositionEmbeddings: 12, TypeVocabSize: 1,
		PadTokenID: 1, LayerNormEps: 1e-5, HiddenAct: "gelu", InitializerRange: 0.5}
	m, err := roberta.New(cfg, roberta.Options{Head: roberta.Prompt, NumLabels: 1, DType: torch.Float64, InitSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ob, err := objective.New(m, objective.Options{Kind: objective.Regression, LabelWords: []int64{7, 9}, Lower: 0, Upper: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	b := &batch.Batch{Size: 3, Len: 4, InputIDs: []int64{0, 5, 6, 2, 0, 8, 4, 2, 0, 11, 12, 2},
		AttentionMask: []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, MaskPos: []int64{1, 2, 1},
		Labels: []int64{-1, -1, -1}, Targets: []float32{0.4, 3.8, 5}}
	logp, loss, err := ob.Eval(b)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for i, y := range b.Targets {
		p := float64(y) / 5
		for j, tj := range []float64{1 - p, p} {
			want += math.Exp(tj) * (tj - float64(logp[2*i+j]))
		}
		if s := math.Exp(float64(logp[2*i])) + math.Exp(float64(logp[2*i+1])); math.Abs(s-1) > 1e-5 {
			t.Errorf("row %d: the regression logits are not log-probabilities (sum of exp %v)", i, s)
		}
	}
	want /= 6
	if math.Abs(float64(loss)-want) > 1e-6*math.Abs(want) {
		t.Errorf("regression loss %v, KLDivLoss formula %v", loss, want)
	}
	if _, err := objective.New(m, objective.Options{Kind: objective.Regression, LabelWords: []int64{7}}); err == nil {
		t.Error("a regression objective with one label word and no bounds was accepted")
	}
}
