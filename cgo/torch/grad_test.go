package torch

import (
	"math"
	"testing"
)

// TestAccumulateGrad: two accumulations give fl(fl(g1·z) + fl(g2·z)), the
// reference's rounding (param.grad = g*z, then param.grad += g*z).
func TestAccumulateGrad(t *testing.T) {
	w, _ := Zeros([]int64{4, 5}, Float32, CPU)
	defer w.Close()
	pl, _ := NewParamList([]*Tensor{w})
	defer pl.Close()
	g1, g2 := float32(0.75), float32(-1.3)
	if err := pl.AccumulateGrad(11, float64(g1)); err != nil {
		t.Fatal(err)
	}
	if err := pl.AccumulateGrad(12, float64(g2)); err != nil {
		t.Fatal(err)
	}
	grad, err := w.Grad()
	if err != nil || grad == nil {
		t.Fatalf("no grad: %v", err)
	}
	defer grad.Close()
	got, _ := grad.Float32s()
	z1, _ := Randn([]int64{4, 5}, 11, Float32, CPU)
	z2, _ := Randn([]int64{4, 5}, 12, Float32, CPU)
	defer z1.Close()
	defer z2.Close()
	a, _ := z1.Float32s()
	b, _ := z2.Float32s()
	for i := range got {
		want := g1*a[i] + g2*b[i]
		if got[i] != want {
			t.Fatalf("elem %d: %v want %v", i, got[i], want)
		}
	}
}

// TestClipGradNorm checks the norm and the scaling against the formula of
// torch.nn.utils.clip_grad_norm_, evaluated here in float64.
func TestClipGradNorm(t *testing.T) {
	a, _ := Zeros([]int64{3}, Float32, CPU)
	b, _ := Zeros([]int64{2, 2}, Float32, CPU)
	c, _ := Zeros([]int64{2}, Float32, CPU) // no grad: skipped
	defer a.Close()
	defer b.Close()
	defer c.Close()
	pl, _ := NewParamList([]*Tensor{a, b})
	if err := pl.AccumulateGrad(5, 3); err != nil {
		t.Fatal(err)
	}
	pl.Close()
	before := func() []float64 {
		var v []float64
		for _, x := range []*Tensor{a, b} {
			g, _ := x.Grad()
			f, _ := g.Float32s()
			g.Close()
			for _, e := range f {
				v = append(v, float64(e))
			}
		}
		return v
	}
	g0 := before()
	var sq float64
	for _, x := range g0 {
		sq += x * x
	}
	want := math.Sqrt(sq)
	all, _ := NewParamList([]*Tensor{a, b, c})
	defer all.Close()
	total, err := all.ClipGradNorm(1.0)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(total-want) > 1e-5*want {
		t.Fatalf("total norm %v, want %v", total, want)
	}
	coef := math.Min(1, 1/(want+1e-6))
	for i, x := range before() {
		if math.Abs(x-g0[i]*coef) > 1e-6*math.Abs(g0[i]) {
			t.Fatalf("clipped grad %d: %v want %v", i, x, g0[i]*coef)
		}
	}
	// Under the limit nothing changes.
	g1 := before()
	if _, err := all.ClipGradNorm(1e9); err != nil {
		t.Fatal(err)
	}
	for i, x := range before() {
		if x != g1[i] {
			t.Fatalf("grad %d changed under the limit", i)
		}
	}
}

// TestEmbeddingPaddingIdx: the padding row gets no gradient, as with
// nn.Embedding(padding_idx=1); without a padding index it does.
func TestEmbeddingPaddingIdx(t *testing.T) {
	for _, pad := range []int64{1, -1} {
		w, _ := Ones([]int64{4, 2}, Float32, CPU)
		w.SetRequiresGrad(true)
		s := NewScope(Grad)
		ids := s.FromInt64s([]int64{1, 2, 1}, []int64{3}, CPU)
		loss := s.Sum(s.Embedding(w, ids, pad))
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
		g, _ := w.Grad()
		v, _ := g.Float32s()
		wantRow1 := float32(2)
		if pad == 1 {
			wantRow1 = 0
		}
		if v[2] != wantRow1 || v[3] != wantRow1 || v[4] != 1 || v[0] != 0 {
			t.Fatalf("padding %d: grad %v", pad, v)
		}
		g.Close()
		s.Close()
		w.Close()
	}
}
