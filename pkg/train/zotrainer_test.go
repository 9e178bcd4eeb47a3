package train_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/optim"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// readList copies every tensor of a list out as float64.
func readList(t *testing.T, pl *torch.ParamList) [][]float64 {
	t.Helper()
	out := make([][]float64, pl.Len())
	for i := range out {
		tt, err := pl.Tensor(i)
		reftest.Must(t, err)
		out[i] = float64s(t, tt)
	}
	return out
}

// float64s copies a float32 tensor out as float64 and closes it.
func float64s(t *testing.T, tt *torch.Tensor) []float64 {
	t.Helper()
	v, err := tt.Float32s()
	reftest.Must(t, err)
	reftest.Must(t, tt.Close())
	out := make([]float64, len(v))
	for j, x := range v {
		out[j] = float64(x)
	}
	return out
}

// zOf draws z for seed independently of the library's passes: a generator
// seeded with seed filling each tensor's shape with N(0, 1) in order (the
// reference's torch.manual_seed(seed); torch.normal(...) per tensor).
func zOf(t *testing.T, pl *torch.ParamList, seed uint64) [][]float64 {
	t.Helper()
	gen, err := torch.NewGenerator(torch.CPU, seed)
	reftest.Must(t, err)
	defer gen.Close()
	out := make([][]float64, pl.Len())
	for i := range out {
		p, err := pl.Tensor(i)
		reftest.Must(t, err)
		shape, err := p.Shape()
		reftest.Must(t, err)
		reftest.Must(t, p.Close())
		z, err := torch.Zeros(shape, torch.Float32, torch.CPU)
		reftest.Must(t, err)
		reftest.Must(t, gen.FillNormal(z, 0, 1))
		out[i] = float64s(t, z)
	}
	return out
}

// TestTrainerOptimizers: three trainer-path steps (n-SPSA with 2 samples,
// efficient z) with each optimizer the reference lacks — libtorch's Adam and
// AdamW, SGD with momentum (ZO-Momentum), with Nesterov — and HF AdamW, equal
// the optimizer's formulas applied in float64 to the ZO gradient
// Σ_j (g_j/n)·z_j computed here from the same seeds, both the parameters and
// the optimizer state (moments or momentum buffers, step counts).
func TestTrainerOptimizers(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "mezo-reference-trainer", "zo-sgd-trainer")
	var fx trainerFixture
	reftest.ReadJSON(t, filepath.Join(dir, "trajectory.json"), &fx)
	const lr, wd, b1, b2, aeps = 1e-2, 0.1, 0.9, 0.999, 1e-8
	for _, c := range []struct {
		name                string
		set                 func(o *recipe.Optim)
		momentum, dampening float64
		nesterov            bool
	}{
		{name: "torch-adam", set: func(o *recipe.Optim) { o.Name = recipe.TorchAdam }},
		{name: "torch-adamw", set: func(o *recipe.Optim) { o.Name = recipe.TorchAdamW }},
		{name: "adamw-hf", set: func(o *recipe.Optim) { o.Name = recipe.AdamW }},
		{name: "sgd-momentum", set: func(o *recipe.Optim) { o.Name, o.Momentum, o.Dampening = recipe.SGD, 0.9, 0.1 }, momentum: 0.9, dampening: 0.1},
		{name: "sgd-nesterov", set: func(o *recipe.Optim) { o.Name, o.Momentum, o.Nesterov = recipe.SGD, 0.9, true }, momentum: 0.9, nesterov: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := recipe.Parse("opt.yaml", []byte("model: {path: fixture}\ntask: {name: SST-2, data_dir: fixture}\nmethod: {kind: mezo, trainer_optim: true, samples: 2, sample_schedule: constant}\n"))
			reftest.Must(t, err)
			r.Optim.LR, r.Optim.WeightDecay, r.Optim.MaxSteps = lr, wd, 3
			c.set(&r.Optim)
			reftest.Must(t, r.Validate())
			s := fixtureSession(t, dir, r, fx.Batch.LabelWords)
			defer s.Close()
			pl := s.Params
			meth, err := train.NewMethod(s, nil, r.Optim.MaxSteps, nil)
			reftest.Must(t, err)
			defer meth.Close()
			zt, ok := meth.(*train.ZOTrainer)
			if !ok {
				t.Fatalf("method %T, want the trainer path", meth)
			}
			decay := optim.ReferenceWeightDecay(s.Names, wd)
			p := readList(t, pl)
			mom := make([][]float64, len(p)) // m, or the momentum buffer
			vel := make([][]float64, len(p))
			for i := range p {
				mom[i], vel[i] = make([]float64, len(p[i])), make([]float64, len(p[i]))
			}
			stream := nprand.New(7)
			for k := 0; k < 3; k++ {
				rec, err := zt.StepSamples(fx.Batch.Host(), train.StepEnv{Seed: func() uint64 { return uint64(stream.Randint(1000000000)) }}, k)
				reftest.Must(t, err)
				if rec.NT != 2 || len(rec.Samples) != 2 || rec.LR != lr {
					t.Fatalf("step %d: n_t %d, %d samples, lr %v", k+1, rec.NT, len(rec.Samples), rec.LR)
				}
				grad := make([][]float64, len(p))
				for i := range grad {
					grad[i] = make([]float64, len(p[i]))
				}
				for _, smp := range rec.Samples {
					z := zOf(t, pl, smp.Seed)
					for i := range grad {
						for j := range grad[i] {
							grad[i][j] += float64(smp.ProjGrad) * z[i][j]
						}
					}
				}
				step := float64(k + 1)
				for i := range p {
					for j := range p[i] {
						g, w := grad[i][j], p[i][j]
						switch r.Optim.Name {
						case recipe.TorchAdam, recipe.TorchAdamW, recipe.AdamW:
							if r.Optim.Name == recipe.TorchAdam {
								g += decay[i] * w
							}
							if r.Optim.Name == recipe.TorchAdamW {
								w *= 1 - lr*decay[i]
							}
							mom[i][j] = b1*mom[i][j] + (1-b1)*g
							vel[i][j] = b2*vel[i][j] + (1-b2)*g*g
							bc1, bc2 := 1-math.Pow(b1, step), 1-math.Pow(b2, step)
							if r.Optim.Name == recipe.AdamW { // transformers: eps on the raw √v, decay after
								w -= lr * math.Sqrt(bc2) / bc1 * mom[i][j] / (math.Sqrt(vel[i][j]) + aeps)
								w -= lr * decay[i] * w
							} else {
								w -= lr / bc1 * mom[i][j] / (math.Sqrt(vel[i][j])/math.Sqrt(bc2) + aeps)
							}
						default:
							d := g + decay[i]*w
							if k == 0 {
								mom[i][j] = d
							} else {
								mom[i][j] = c.momentum*mom[i][j] + (1-c.dampening)*d
							}
							if c.nesterov {
								d += c.momentum * mom[i][j]
							} else {
								d = mom[i][j]
							}
							w -= lr * d
						}
						p[i][j] = w
					}
				}
			}
			got := readList(t, pl)
			st, err := zt.Opt.State()
			reftest.Must(t, err)
			defer st.Close()
			gm, gv := readList(t, st.ExpAvg), readList(t, st.ExpAvgSq)
			adam := r.Optim.Name != recipe.SGD
			worst := map[string]float64{}
			for i := range p {
				if st.Steps[i] != 3 {
					t.Errorf("%s: optimizer step count %d, want 3", s.Names[i], st.Steps[i])
				}
				// Float32 sums of g_j·z_j terms near ±5 that partly cancel:
				// errors scale with the tensor's magnitude, not the element's.
				maxAbs := func(v []float64) float64 {
					m := 0.0
					for _, x := range v {
						m = max(m, math.Abs(x))
					}
					return m
				}
				mScale, vScale := maxAbs(mom[i]), maxAbs(vel[i])
				for j := range p[i] {
					check := func(what string, a, b, scale float64) {
						d := math.Abs(a-b) / scale
						worst[what] = max(worst[what], d)
						if d > 1e-5 {
							t.Fatalf("%s[%d] %s: %v, independent %v", s.Names[i], j, what, a, b)
						}
					}
					check("parameter", got[i][j], p[i][j], 1+math.Abs(p[i][j]))
					check("first moment / momentum", gm[i][j], mom[i][j], mScale)
					if adam {
						check("second moment", gv[i][j], vel[i][j], vScale)
					}
				}
			}
			t.Logf("%s: 3 steps × 2 samples; worst relative differences %v", c.name, fmt.Sprint(worst))
		})
	}
}
