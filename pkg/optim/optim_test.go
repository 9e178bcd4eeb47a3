package optim

import "testing"

func TestReferenceWeightDecay(t *testing.T) {
	names := []string{"roberta.embeddings.LayerNorm.weight", "roberta.embeddings.LayerNorm.bias",
		"lm_head.layer_norm.weight", "lm_head.bias", "classifier.weight", "roberta.encoder.layer.0.attention.self.query.weight"}
	want := []float64{0, 0, 0.1, 0, 0.1, 0.1}
	got := ReferenceWeightDecay(names, 0.1)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: weight decay %v, want %v", names[i], got[i], want[i])
		}
	}
}

func TestSchedules(t *testing.T) {
	// The formulas of transformers' get_*_schedule_with_warmup, by hand.
	lin, _ := NewSchedule("linear", 1, 2, 10)
	cw, _ := NewSchedule("constant_with_warmup", 1, 4, 10)
	for k, want := range []float64{0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0, 0} {
		if got := lin.LR(k); got != want {
			t.Errorf("linear λ(%d) = %v, want %v", k, got, want)
		}
	}
	for k, want := range []float64{0, 0.25, 0.5, 0.75, 1, 1} {
		if got := cw.LR(k); got != want {
			t.Errorf("constant_with_warmup λ(%d) = %v, want %v", k, got, want)
		}
	}
	if _, err := NewSchedule("cosine", 1, 0, 10); err == nil {
		t.Error("an unimplemented schedule was accepted")
	}
	if _, err := NewSchedule("linear", 1, -1, 10); err == nil {
		t.Error("negative warm-up accepted")
	}
}
