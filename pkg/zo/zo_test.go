package zo

import (
	"errors"
	"math"
	"math/rand"
	"testing"
)

// fake is a pure-Go model: θ ∈ R^n, z(seed) from math/rand, loss ½‖θ − t‖².
type fake struct {
	theta, target []float64
	calls         []string
}

func (f *fake) z(seed uint64) []float64 {
	r := rand.New(rand.NewSource(int64(seed)))
	z := make([]float64, len(f.theta))
	for i := range z {
		z[i] = r.NormFloat64()
	}
	return z
}

func (f *fake) Perturb(seed uint64, scale, eps float64) error {
	for i, zi := range f.z(seed) {
		f.theta[i] += scale * zi * eps
	}
	f.calls = append(f.calls, "perturb")
	return nil
}

func (f *fake) Update(seed uint64, g, lr, wd float64) error {
	for i, zi := range f.z(seed) {
		f.theta[i] -= lr * (g*zi + wd*f.theta[i])
	}
	f.calls = append(f.calls, "update")
	return nil
}

func (f *fake) loss() (float32, error) {
	var s float64
	for i := range f.theta {
		d := f.theta[i] - f.target[i]
		s += d * d
	}
	f.calls = append(f.calls, "loss")
	return float32(s / 2), nil
}

func TestStepOrderAndGradient(t *testing.T) {
	f := &fake{theta: []float64{1, 2, 3}, target: []float64{0, 0, 0}}
	r, err := Step(f, f.loss, 7, Config{Eps: 1e-3, LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"perturb", "loss", "perturb", "loss", "perturb", "update"}
	if len(f.calls) != len(want) {
		t.Fatalf("calls %v", f.calls)
	}
	for i := range want {
		if f.calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", f.calls, want)
		}
	}
	// For a quadratic the central difference is exact: g = zᵀ(θ − t).
	z := f.z(7)
	g := z[0]*1 + z[1]*2 + z[2]*3
	if math.Abs(float64(r.ProjGrad)-g) > 1e-2*math.Abs(g)+1e-3 {
		t.Fatalf("projected gradient %v, want %v", r.ProjGrad, g)
	}
}

func TestStepDescends(t *testing.T) {
	f := &fake{theta: make([]float64, 20), target: make([]float64, 20)}
	for i := range f.target {
		f.target[i] = float64(i%5) - 2
	}
	first, _ := f.loss()
	for s := uint64(0); s < 400; s++ {
		if _, err := Step(f, f.loss, s, Config{Eps: 1e-3, LR: 0.02}); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := f.loss()
	if !(last < first/4) {
		t.Fatalf("loss %v → %v: MeZO did not descend", first, last)
	}
}

func TestNonFiniteLossRestoresAndSkipsUpdate(t *testing.T) {
	f := &fake{theta: []float64{1, 2}, target: []float64{0, 0}}
	n := 0
	loss := func() (float32, error) {
		n++
		if n == 2 {
			return float32(math.NaN()), nil
		}
		return f.loss()
	}
	_, err := Step(f, loss, 3, Config{Eps: 1e-3, LR: 1})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Seed != 3 {
		t.Fatalf("want a NonFiniteError, got %v", err)
	}
	if math.Abs(f.theta[0]-1) > 1e-12 || math.Abs(f.theta[1]-2) > 1e-12 {
		t.Fatalf("parameters not restored: %v", f.theta)
	}
	for _, c := range f.calls {
		if c == "update" {
			t.Fatal("updated after a NaN loss")
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Eps: 0, LR: 1}, {Eps: -1, LR: 1}, {Eps: math.NaN()}, {Eps: 1, LR: math.Inf(1)}, {Eps: 1, WeightDecay: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if (Config{Eps: 1e-3, LR: 1e-6}).Validate() != nil {
		t.Error("valid config refused")
	}
}
