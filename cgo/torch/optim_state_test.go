package torch

import (
	"bytes"
	"testing"
)

// TestOptimizerStateRoundTrip: an AdamW whose state is exported after three
// steps and imported into a fresh optimizer over a copy of the parameters
// continues exactly as the original does (the checkpoint-and-resume path).
func TestOptimizerStateRoundTrip(t *testing.T) {
	newParams := func(seed uint64) (*ParamList, []*Tensor) {
		var ts []*Tensor
		for i, sh := range [][]int64{{5, 3}, {7}} {
			x, err := Randn(sh, seed+uint64(i), Float32, CPU)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.SetRequiresGrad(true); err != nil {
				t.Fatal(err)
			}
			ts = append(ts, x)
		}
		pl, err := NewParamList(ts)
		if err != nil {
			t.Fatal(err)
		}
		return pl, ts
	}
	// grads sets p.grad = z(seed) on every tensor.
	grads := func(pl *ParamList, seed uint64) {
		if err := pl.ZeroGrad(true); err != nil {
			t.Fatal(err)
		}
		if err := pl.AccumulateGrad(seed, 1); err != nil {
			t.Fatal(err)
		}
	}
	a, ats := newParams(1)
	defer a.Close()
	wd := []float64{0.01, 0}
	cfg := AdamConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, CorrectBias: true}
	oa, err := NewAdamWHF(a, wd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer oa.Close()
	for k := uint64(0); k < 3; k++ {
		grads(a, 10+k)
		if err := oa.Step(1e-2); err != nil {
			t.Fatal(err)
		}
	}
	st, err := oa.State()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Steps[0] != 3 || st.Steps[1] != 3 {
		t.Fatalf("step counts %v, want [3 3]", st.Steps)
	}
	// The resumed side: parameters copied from a, a fresh optimizer, the state.
	b, bts := newParams(99)
	defer b.Close()
	if err := b.CopyFrom(a); err != nil {
		t.Fatal(err)
	}
	ob, err := NewAdamWHF(b, wd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if err := ob.SetState(st); err != nil {
		t.Fatal(err)
	}
	for k := uint64(3); k < 5; k++ {
		for _, side := range []struct {
			pl *ParamList
			o  *Optimizer
		}{{a, oa}, {b, ob}} {
			grads(side.pl, 10+k)
			if err := side.o.Step(1e-2); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range ats {
		x, _ := ats[i].Bytes()
		y, _ := bts[i].Bytes()
		if !bytes.Equal(x, y) {
			t.Errorf("tensor %d: the resumed optimizer diverged from the original", i)
		}
	}
	// Without the state the fresh optimizer would restart its moments: the
	// check above must be able to fail.
	c, cts := newParams(99)
	defer c.Close()
	if err := c.CopyFrom(a); err != nil {
		t.Fatal(err)
	}
	oc, _ := NewAdamWHF(c, wd, cfg)
	defer oc.Close()
	grads(c, 20)
	oc.Step(1e-2)
	grads(a, 20)
	oa.Step(1e-2)
	x, _ := ats[0].Bytes()
	y, _ := cts[0].Bytes()
	if bytes.Equal(x, y) {
		t.Error("a fresh optimizer matched one with three steps of state: the comparison cannot tell")
	}
	if err := ob.SetState(&OptimizerState{Steps: []int64{1}}); err == nil {
		t.Error("a state for one tensor was accepted by an optimizer over two")
	}
}
