package torch

import (
	"reflect"
	"testing"
)

// TestOptimizerInfo: each optimizer reads back as it was built, libtorch's
// own from its parameter groups' options (one group per weight decay).
func TestOptimizerInfo(t *testing.T) {
	var ts []*Tensor
	for i, sh := range [][]int64{{3, 2}, {4}, {2}} {
		x, err := Randn(sh, uint64(i+1), Float32, CPU)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	pl, err := NewParamList(ts)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	for _, x := range ts {
		x.Close()
	}
	wd := []float64{0.1, 0, 0.1}
	adam := AdamConfig{Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, CorrectBias: true}
	for _, c := range []struct {
		make func() (*Optimizer, error)
		want OptimizerInfo
	}{
		{func() (*Optimizer, error) { return NewSGD(pl, wd) }, OptimizerInfo{Kind: "sgd"}},
		{func() (*Optimizer, error) { return NewSGDMomentum(pl, wd, 0.9, 0.1, false) }, OptimizerInfo{Kind: "sgd-momentum", Momentum: 0.9, Dampening: 0.1}},
		{func() (*Optimizer, error) { return NewSGDMomentum(pl, wd, 0.5, 0, true) }, OptimizerInfo{Kind: "sgd-momentum", Momentum: 0.5, Nesterov: true}},
		{func() (*Optimizer, error) { return NewAdamWHF(pl, wd, adam) }, OptimizerInfo{Kind: "adamw-hf", Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, CorrectBias: true}},
		{func() (*Optimizer, error) { return NewTorchAdam(pl, wd, adam, false) }, OptimizerInfo{Kind: "torch-adam", Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, CorrectBias: true}},
		{func() (*Optimizer, error) { return NewTorchAdam(pl, wd, adam, true) }, OptimizerInfo{Kind: "torch-adamw", Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, CorrectBias: true}},
	} {
		o, err := c.make()
		if err != nil {
			t.Fatal(err)
		}
		got, err := o.Info()
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		c.want.WeightDecay = wd
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: read back %+v, built %+v", c.want.Kind, got, c.want)
		}
	}
}
