package zo_test

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/zo"
)

// TestPhiloxFusedDrift: with the philox stream the restore fused into the
// update (three passes, the default outside reference mode) gives exactly
// the separate restore pass's result (four passes, the reference's order):
// the fused pass rounds θ' + εz to float32 before updating, as the separate
// pass stores it. What remains is the round trip +ε −2ε +ε, inexact in
// float32 in every mode (the reference's too): over 200 steps at lr = 0 θ
// stays within the worst case of 3·200 roundings of half an ulp,
// |Δθ| ≤ 600·2⁻²⁴·(|θ| + 2ε·max|z|), and torch's stream drifts alike.
func TestPhiloxFusedDrift(t *testing.T) {
	mk := func() (*torch.ParamList, []*torch.Tensor) {
		var ts []*torch.Tensor
		for i, s := range [][]int64{{2000, 5}, {77}} {
			x, err := torch.Randn(s, uint64(i+1), torch.Float32, torch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, x)
		}
		pl, err := torch.NewParamList(ts)
		if err != nil {
			t.Fatal(err)
		}
		if err := pl.SetZStream(torch.ZPhilox); err != nil {
			t.Fatal(err)
		}
		return pl, ts
	}
	values := func(ts []*torch.Tensor) []float32 {
		var out []float32
		for _, x := range ts {
			v, err := x.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v...)
		}
		return out
	}
	worst := func(a, b []float32) float64 {
		w := 0.0
		for i := range a {
			w = math.Max(w, math.Abs(float64(a[i]-b[i]))/math.Max(math.Abs(float64(b[i])), 0.1))
		}
		return w
	}
	// A loss that depends on the step, so g varies in sign and size.
	loss := func() zo.Loss {
		n := 0
		return func() (float32, error) { n++; return float32(math.Sin(float64(n))), nil }
	}
	run := func(z torch.ZStream, lr float64, separate bool) (start, end []float32) {
		pl, ts := mk()
		defer pl.Close()
		defer func() {
			for _, x := range ts {
				x.Close()
			}
		}()
		if err := pl.SetZStream(z); err != nil {
			t.Fatal(err)
		}
		start = values(ts)
		l := loss()
		for step := uint64(1); step <= 200; step++ {
			cfg := zo.Config{Eps: 1e-3, LR: lr, WeightDecay: 0.01, SeparateRestore: separate}
			if _, err := zo.Step(pl, l, step, cfg); err != nil {
				t.Fatal(err)
			}
		}
		return start, values(ts)
	}
	start, fused := run(torch.ZPhilox, 1e-3, false)
	_, sep := run(torch.ZPhilox, 1e-3, true)
	for i := range fused {
		if fused[i] != sep[i] {
			t.Fatalf("element %d: fused restore+update %v, separate passes %v after 200 steps", i, fused[i], sep[i])
		}
	}
	if w := worst(fused, start); w < 1e-5 {
		t.Errorf("200 steps at lr 1e-3 moved θ by only %.3g relative", w)
	}
	const bound = 600.0 / (1 << 24)
	for _, z := range []torch.ZStream{torch.ZPhilox, torch.ZTorch} {
		start, end := run(z, 0, false)
		over, w := 0, 0.0
		for i := range end {
			d := math.Abs(float64(end[i] - start[i]))
			lim := bound * (math.Abs(float64(start[i])) + 2e-3*5.8)
			if z == torch.ZTorch {
				lim = bound * (math.Abs(float64(start[i])) + 2e-3*8) // torch's z is not bounded; 8σ covers these draws
			}
			if d > lim {
				over++
			}
			w = math.Max(w, d/lim)
		}
		if over > 0 {
			t.Errorf("%v: 200 round trips moved %d elements beyond the rounding bound (worst %.2f× it)", z, over, w)
		}
		t.Logf("%v: 200 round trips +ε −2ε +ε: worst drift %.2f of the 600-half-ulp bound, %.3g relative", z, w, worst(end, start))
	}
}
