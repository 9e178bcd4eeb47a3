package torch

import (
	"runtime"
	"sync"
	"testing"
)

// TestGradModeSurvivesThreadMigration runs grad and no-grad scopes from many
// goroutines at once, each hopping between OS threads (runtime.Gosched and
// the cgo calls themselves let the scheduler move them). Every result must
// carry the mode of its own scope: the shim applies the mode per call and
// leaves no thread-local state behind.
func TestGradModeSurvivesThreadMigration(t *testing.T) {
	w, err := Ones([]int64{8}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				mode := []Mode{NoGrad, Grad, Inference}[(g+i)%3]
				s := NewScope(mode)
				y := s.Sum(s.MulScalar(w, 2))
				if s.Err() != nil {
					errs <- s.Err().Error()
					s.Close()
					return
				}
				rg, err := y.RequiresGrad()
				if err != nil {
					errs <- err.Error()
				}
				if rg != (mode == Grad) {
					errs <- "a result's requires_grad does not match its scope's mode"
				}
				s.Close()
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// autocastMatMul is a [4,8]·[8,3] matmul in a grad-mode scope with
// autocast dt (0: off) on dev: its result's dtype and values.
func autocastMatMul(t *testing.T, dev Device, dt DType) (DType, []float32) {
	t.Helper()
	s := NewScope(Grad)
	defer s.Close()
	if err := s.SetAutocast(dt); err != nil {
		t.Fatal(err)
	}
	a := make([]float32, 32)
	b := make([]float32, 24)
	for i := range a {
		a[i] = float32(i%7) * 0.37
	}
	for i := range b {
		b[i] = float32(i%5) * -0.61
	}
	y := s.MatMul(s.FromFloat32s(a, []int64{4, 8}, dev), s.FromFloat32s(b, []int64{8, 3}, dev))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := y.DType()
	if err != nil {
		t.Fatal(err)
	}
	f := s.To(y, Float32, CPU)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	v, err := f.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return got, v
}

// TestAutocastMode: a scope's autocast dtype travels with the grad mode in
// each shim call. CUDA autocast leaves CPU ops as they are (fp32, the same
// values), so on the CPU it must change nothing; a dtype other than bf16 or
// fp16 is refused.
func TestAutocastMode(t *testing.T) {
	dt0, v0 := autocastMatMul(t, CPU, 0)
	for _, dt := range []DType{BFloat16, Float16} {
		dt1, v1 := autocastMatMul(t, CPU, dt)
		if dt0 != Float32 || dt1 != Float32 {
			t.Fatalf("CPU matmul under CUDA autocast %s: dtype %s (off: %s), want float32", dt, dt1, dt0)
		}
		for i := range v0 {
			if v0[i] != v1[i] {
				t.Fatalf("CPU matmul under CUDA autocast %s differs at %d: %v vs %v", dt, i, v1[i], v0[i])
			}
		}
	}
	if err := NewScope(Grad).SetAutocast(Float64); err == nil {
		t.Error("autocast in float64 accepted")
	}
}

// TestCUDAAutocast: on a GPU a matmul under autocast computes in bf16 (fp16)
// and stays within that precision of the fp32 result.
func TestCUDAAutocast(t *testing.T) {
	n, err := CUDADeviceCount()
	if err != nil || n == 0 {
		t.Skipf("SKIP (no GPU): no CUDA device (count %d, %v); this test runs on a GPU machine", n, err)
	}
	_, ref := autocastMatMul(t, CUDA(0), 0)
	for _, c := range []struct {
		dt  DType
		tol float64
	}{{BFloat16, 1.0 / 64}, {Float16, 1.0 / 512}} {
		got, v := autocastMatMul(t, CUDA(0), c.dt)
		if got != c.dt {
			t.Errorf("CUDA matmul under autocast %s: dtype %s", c.dt, got)
		}
		for i := range ref {
			if d := float64(v[i] - ref[i]); d > c.tol*(1+float64(abs32(ref[i]))) || d < -c.tol*(1+float64(abs32(ref[i]))) {
				t.Errorf("autocast %s: element %d = %v, fp32 %v", c.dt, i, v[i], ref[i])
			}
		}
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
