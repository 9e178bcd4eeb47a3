package zo_test

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/zo"
)

// TestFusedRestoreUpdate: on a real parameter list, restoring and updating
// in one pass gives the separate passes' result up to float rounding, and
// SeparateRestore gives exactly Perturb(+1) followed by Update.
func TestFusedRestoreUpdate(t *testing.T) {
	mk := func() (*torch.ParamList, *torch.Tensor) {
		x, err := torch.Randn([]int64{4099}, 3, torch.Float32, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := torch.NewParamList([]*torch.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		return pl, x
	}
	loss := func(v float32) zo.Loss {
		n := 0
		return func() (float32, error) { n++; return v + float32(n)*0.01, nil }
	}
	cfg := zo.Config{Eps: 1e-3, LR: 1e-2, WeightDecay: 0.1}
	fused, fx := mk()
	defer fused.Close()
	defer fx.Close()
	sep, sx := mk()
	defer sep.Close()
	defer sx.Close()
	if _, err := zo.Step(fused, loss(1), 7, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.SeparateRestore = true
	r, err := zo.Step(sep, loss(1), 7, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := fx.Float32s()
	b, _ := sx.Float32s()
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]-b[i])) / math.Max(math.Abs(float64(b[i])), 1e-3)
		worst = math.Max(worst, d)
	}
	if worst > 1e-6 {
		t.Errorf("fused restore+update differs from the separate passes by %.3g relative", worst)
	}
	if worst == 0 {
		t.Log("fused and separate passes agree bit for bit here")
	}
	// Teacher forcing replaces the measured projected gradient.
	cfg.ProjGrad = func(float32) float32 { return 0 }
	before, _ := sx.Float32s()
	if r, err = zo.Step(sep, loss(1), 8, cfg); err != nil || r.ProjGrad != 0 {
		t.Fatalf("forced gradient: %v, %v", r.ProjGrad, err)
	}
	after, _ := sx.Float32s()
	moved := 0
	for i := range after {
		if after[i] != before[i] {
			moved++
		}
	}
	// With g = 0 only weight decay moves θ: every element shrinks.
	if moved == 0 {
		t.Error("weight decay with a forced zero gradient moved nothing")
	}
}
