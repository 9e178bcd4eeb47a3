package opt

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
)

// TestCUDAOPTMatchesCPU: opt-tiny's logits on a CUDA device, in float32 and
// in float16 (the dtype the MeZO recipes load OPT in, large_models'
// --load_float16), agree with the CPU's float32 logits: float32 to 1e-4
// relative to the logits' scale (different kernels, same arithmetic),
// float16 to 2e-2 (its 11-bit significand over two layers). Skips, loudly,
// without a CUDA device: it runs on a lent GPU machine
// (scripts/device-check.sh).
func TestCUDAOPTMatchesCPU(t *testing.T) {
	n, err := torch.CUDADeviceCount()
	if err != nil || n == 0 {
		t.Skipf("SKIP (no CUDA device: %v): OPT on CUDA in float32 and float16 is checked on a GPU machine, scripts/device-check.sh", err)
	}
	md, sd := tinyStateDict(t)
	ids := []int64{2, 100, 200, 300, 400, 1, 2, 500, 600, 700, 800, 900}
	mask := []int64{1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1}
	logits := func(opts Options) []float32 {
		t.Helper()
		m, err := FromStateDict(md.Config, sd, "opt-tiny", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s := torch.NewScope(torch.NoGrad)
		defer s.Close()
		sh := []int64{2, 6}
		lg := m.Logits(s, Inputs{InputIDs: s.FromInt64s(ids, sh, opts.Device), AttentionMask: s.FromInt64s(mask, sh, opts.Device)}, ForwardOptions{})
		lg = s.To(lg, torch.Float32, torch.CPU)
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		v, err := lg.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cpu := logits(Options{})
	scale := 0.0
	for _, x := range cpu {
		scale = math.Max(scale, math.Abs(float64(x)))
	}
	cuda := torch.Device{CUDA: true}
	for _, c := range []struct {
		dt  torch.DType
		tol float64
	}{{torch.Float32, 1e-4}, {torch.Float16, 2e-2}} {
		got := logits(Options{DType: c.dt, Device: cuda})
		worst := 0.0
		for i := range cpu {
			// Padded positions (mask 0) still get logits; compare them too.
			worst = math.Max(worst, math.Abs(float64(got[i]-cpu[i]))/scale)
		}
		t.Logf("%s on CUDA: worst logit difference %.3g of the logits' scale %.3g", c.dt, worst, scale)
		if worst > c.tol || math.IsNaN(worst) {
			t.Errorf("%s on CUDA: logits differ from the CPU's float32 by %.3g of their scale (tolerance %g)", c.dt, worst, c.tol)
		}
	}
}
