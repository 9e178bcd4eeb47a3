package peft_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/peft"
)

// tinyBatch is the roberta-tiny fixture's batch (fixtures/prefix/README.md).
func tinyBatch() *batch.Batch {
	return &batch.Batch{Size: 3, Len: 12,
		InputIDs: []int64{0, 250, 749, 422, 366, 999, 954, 92, 534, 984, 636, 2,
			0, 607, 500, 941, 178, 658, 999, 279, 2, 1, 1, 1,
			0, 918, 984, 999, 2, 1, 1, 1, 1, 1, 1, 1},
		AttentionMask: []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
			1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
		MaskPos: []int64{5, 6, 3}, Labels: []int64{0, 2, 1}}
}

var tinyLabelWords = []int64{5, 7, 11}

// tinyModel loads roberta-tiny as MeZO's prompt model.
func tinyModel(t *testing.T, dt torch.DType) (*roberta.Model, *hf.Config) {
	t.Helper()
	dir := testenv.SharedPath(t, "fixtures", "roberta-tiny")
	m, err := roberta.Load(dir, "", roberta.Options{Head: roberta.Prompt, NumLabels: 3, DType: dt, InitSeed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m, cfg
}

func newObjective(t *testing.T, m *roberta.Model) *objective.Objective {
	t.Helper()
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: tinyLabelWords})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

func applyLoRA(t *testing.T, m *roberta.Model) *peft.LoRA {
	t.Helper()
	gen, err := torch.NewGenerator(torch.CPU, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	l, err := peft.ApplyLoRA(m, peft.LoRAConfig{R: 8, Alpha: 16}, gen)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// list returns a ParamList over the named parameters of ps matching keep.
func list(t *testing.T, ps *nn.ParamSet, keep func(string) bool) *torch.ParamList {
	t.Helper()
	var ts []*torch.Tensor
	for _, p := range ps.All() {
		if keep(p.Name) {
			ts = append(ts, p.T)
		}
	}
	if len(ts) == 0 {
		t.Fatal("no parameters selected")
	}
	pl, err := torch.NewParamList(ts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl
}

func logits(t *testing.T, ob *objective.Objective) ([]float32, float32) {
	t.Helper()
	lg, loss, err := ob.Eval(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	return lg, loss
}

// TestLoRAStartsAsBaseModel: with B = 0 the adapted model's logits equal
// the base model's bit for bit; A and B sit after each projection's bias in
// the parameter order, with loralib's shapes and A's kaiming-uniform bound.
func TestLoRAStartsAsBaseModel(t *testing.T) {
	m, _ := tinyModel(t, torch.Float32)
	defer m.Close()
	ob := newObjective(t, m)
	before, _ := logits(t, ob)
	n := m.Params.Len()
	l := applyLoRA(t, m)
	after, _ := logits(t, ob)
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("logit %d: %v with LoRA (B=0), %v without", i, after[i], before[i])
		}
	}
	if got := m.Params.Len(); got != n+8 || len(l.Layers) != 4 {
		t.Fatalf("%d parameters after LoRA on 2 layers (want %d), %d adapters", got, n+8, len(l.Layers))
	}
	names := m.Params.Names()
	for i, nm := range names {
		if strings.HasSuffix(nm, ".lora_A") {
			stem := strings.TrimSuffix(nm, ".lora_A")
			if names[i-1] != stem+".bias" || names[i+1] != stem+".lora_B" {
				t.Errorf("%s at %d: neighbours %s, %s", nm, i, names[i-1], names[i+1])
			}
			if !strings.HasSuffix(stem, ".self.query") && !strings.HasSuffix(stem, ".self.value") {
				t.Errorf("LoRA on %s", stem)
			}
			a, _ := m.Params.Get(nm).T.Float32s()
			sh, _ := m.Params.Get(nm).T.Shape()
			bound := 1 / math.Sqrt(32)
			mx := 0.0
			for _, v := range a {
				mx = math.Max(mx, math.Abs(float64(v)))
			}
			if sh[0] != 8 || sh[1] != 32 || mx > bound || mx < bound/2 {
				t.Errorf("%s: shape %v, max |a| %v (bound %v)", nm, sh, mx, bound)
			}
		}
	}
	if _, err := peft.ApplyLoRA(m, peft.LoRAConfig{R: 8, Alpha: 16}, nil); err == nil {
		t.Fatal("LoRA applied twice")
	}
}

// TestLoRAPerturbationReachesLoss: perturbing A and B (as a MeZO step does,
// in inference mode: the reference's merged-on-eval trap would hide it)
// changes the loss; B's perturbation alone does too.
func TestLoRAPerturbationReachesLoss(t *testing.T) {
	m, _ := tinyModel(t, torch.Float32)
	defer m.Close()
	ob := newObjective(t, m)
	applyLoRA(t, m)
	base, err := ob.Loss(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	bs := list(t, m.Params, func(n string) bool { return strings.HasSuffix(n, ".lora_B") })
	if err := bs.Perturb(3, 1, 1e-1); err != nil {
		t.Fatal(err)
	}
	lb, _ := ob.Loss(tinyBatch())
	as := list(t, m.Params, func(n string) bool { return strings.HasSuffix(n, ".lora_A") })
	if err := as.Perturb(4, 1, 1e-1); err != nil {
		t.Fatal(err)
	}
	lab, _ := ob.Loss(tinyBatch())
	t.Logf("loss %v, after perturbing B %v, then A %v", base, lb, lab)
	if lb == base || lab == lb {
		t.Fatalf("perturbations of LoRA did not reach the loss: %v %v %v", base, lb, lab)
	}
}

// TestLoRAMergedEqualsUnmerged: with non-zero A and B, the merged export
// (W + B·A·α/r, no LoRA tensors) loaded as a plain model gives the unmerged
// model's logits to fp32 tolerance.
func TestLoRAMergedEqualsUnmerged(t *testing.T) {
	m, cfg := tinyModel(t, torch.Float32)
	defer m.Close()
	ob := newObjective(t, m)
	l := applyLoRA(t, m)
	if err := list(t, m.Params, peft.IsLoRAParam).Perturb(5, 1, 0.5); err != nil {
		t.Fatal(err)
	}
	want, _ := logits(t, ob)
	sd, err := l.MergedStateDict(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sd.Names {
		if peft.IsAdapterParam(n) {
			t.Fatalf("merged state dict holds %s", n)
		}
	}
	mm, err := roberta.FromStateDict(cfg, sd, "merged", roberta.Options{Head: roberta.Prompt, NumLabels: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	got, _ := logits(t, newObjective(t, mm))
	maxd := 0.0
	for i := range want {
		d := math.Abs(float64(got[i] - want[i]))
		maxd = math.Max(maxd, d)
		if d > 1e-5+1e-5*math.Abs(float64(want[i])) {
			t.Errorf("logit %d: merged %v, unmerged %v", i, got[i], want[i])
		}
	}
	base, _ := tinyModel(t, torch.Float32)
	defer base.Close()
	plain, _ := logits(t, newObjective(t, base))
	same := true
	for i := range plain {
		same = same && math.Abs(float64(plain[i]-want[i])) < 1e-4
	}
	if same {
		t.Fatal("the perturbed LoRA model predicts as the base model: the test checks nothing")
	}
	t.Logf("merged vs unmerged: max |Δlogit| %.3g", maxd)
}

// TestLoRAGradientFiniteDifference: the fine-tuning gradient of the prompt
// loss w.r.t. A and w.r.t. B, along a random direction z, equals the central
// difference (L(θ+εz) − L(θ−εz)) / 2ε, in float64.
func TestLoRAGradientFiniteDifference(t *testing.T) {
	m, _ := tinyModel(t, torch.Float64)
	defer m.Close()
	ob := newObjective(t, m)
	applyLoRA(t, m)
	all := list(t, m.Params, peft.IsLoRAParam)
	if err := all.Perturb(11, 1, 0.3); err != nil { // B ≠ 0, so A has a gradient
		t.Fatal(err)
	}
	for _, p := range m.Params.All() {
		p.Trainable = peft.IsLoRAParam(p.Name)
	}
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Grad)
	loss, _ := ob.Forward(s, tinyBatch(), roberta.ForwardOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, which := range []string{".lora_A", ".lora_B"} {
		var grads [][]float64
		var ts []*torch.Tensor
		for _, p := range m.Params.Trainable() {
			if strings.HasSuffix(p.Name, which) {
				g, err := p.T.Grad()
				if err != nil {
					t.Fatal(err)
				}
				v, err := g.Float64s()
				g.Close()
				if err != nil {
					t.Fatal(err)
				}
				grads = append(grads, v)
				ts = append(ts, p.T)
			}
		}
		pl, err := torch.NewParamList(ts)
		if err != nil {
			t.Fatal(err)
		}
		// z into the gradients (zeroed first): g·z from the same stream the
		// perturbations below use.
		const seed = 21
		if err := pl.ZeroGrad(false); err != nil {
			t.Fatal(err)
		}
		if err := pl.AccumulateGrad(seed, 1); err != nil {
			t.Fatal(err)
		}
		dot := 0.0
		for i, tt := range ts {
			g, _ := tt.Grad()
			z, err := g.Float64s()
			g.Close()
			if err != nil {
				t.Fatal(err)
			}
			for j := range z {
				dot += z[j] * grads[i][j]
			}
		}
		const eps = 1e-5
		lossAt := func() float64 {
			s := torch.NewScope(torch.Inference)
			defer s.Close()
			l, _ := ob.Forward(s, tinyBatch(), roberta.ForwardOptions{})
			v, err := l.Item()
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if err := pl.Perturb(seed, 1, eps); err != nil {
			t.Fatal(err)
		}
		lp := lossAt()
		if err := pl.Perturb(seed, -2, eps); err != nil {
			t.Fatal(err)
		}
		lm := lossAt()
		if err := pl.Perturb(seed, 1, eps); err != nil {
			t.Fatal(err)
		}
		pl.Close()
		fd := (lp - lm) / (2 * eps)
		t.Logf("%s: g·z %.12g, finite difference %.12g", which, dot, fd)
		if math.Abs(dot) < 1e-6 || math.Abs(fd-dot) > 1e-6*math.Abs(dot)+1e-9 {
			t.Errorf("%s: gradient along z %.12g, finite difference %.12g", which, dot, fd)
		}
	}
}
