package zo_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/zo"
)

type trajectory struct {
	Batch struct {
		InputIDs      [][]int64 `json:"input_ids"`
		AttentionMask [][]int64 `json:"attention_mask"`
		MaskPos       []int64   `json:"mask_pos"`
		Labels        []int64   `json:"labels"`
		LabelWords    []int64   `json:"label_word_list"`
	} `json:"batch"`
	Hyper struct {
		Eps   float64 `json:"zero_order_eps"`
		LR    float64 `json:"learning_rate"`
		Seed  uint32  `json:"numpy_seed"`
		Steps int     `json:"steps"`
	} `json:"hyperparameters"`
	Runs map[string]struct {
		WeightDecay float64 `json:"weight_decay"`
		LossInitial string  `json:"loss_initial_f32"`
		LossFinal   string  `json:"loss_final_f32"`
		FinalState  string  `json:"final_state"`
		Steps       []struct {
			Step      int    `json:"step"`
			Seed      uint64 `json:"seed"`
			LossPlus  string `json:"loss_plus_f32"`
			LossMinus string `json:"loss_minus_f32"`
			Grad      string `json:"projected_grad_f32"`
		} `json:"steps"`
	} `json:"runs"`
}

func f32hex(t *testing.T, s string) float32 {
	u, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("bad f32 hex %q", s)
	}
	return math.Float32frombits(uint32(u))
}

func loadTrajectory(t *testing.T) (string, *trajectory, *hf.Config, roberta.Batch) {
	t.Helper()
	dir := testenv.SharedPath(t, "fixtures", "mezo-reference", "trajectory-a")
	raw, err := os.ReadFile(filepath.Join(dir, "trajectory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr trajectory
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	B, L := len(tr.Batch.InputIDs), len(tr.Batch.InputIDs[0])
	b := roberta.Batch{B: B, L: L, MaskPos: tr.Batch.MaskPos, Labels: tr.Batch.Labels}
	for i := range tr.Batch.InputIDs {
		b.InputIDs = append(b.InputIDs, tr.Batch.InputIDs[i]...)
		b.AttentionMask = append(b.AttentionMask, tr.Batch.AttentionMask[i]...)
	}
	for _, name := range []string{"wd0", "wd0.1"} {
		if _, ok := tr.Runs[name]; !ok {
			t.Fatalf("trajectory.json has no run %s", name)
		}
	}
	return dir, &tr, cfg, b
}

func loadInitial(t *testing.T, dir string, cfg *hf.Config, labels int) *roberta.Model {
	t.Helper()
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "initial.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := roberta.FromStateDict(cfg, sd, "initial.safetensors", roberta.Options{Head: roberta.Prompt, NumLabels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReferenceParameterPasses replays the reference's 20 efficient MeZO
// steps (trajectory-a, both weight decays) on the parameters alone — the
// seeds from nprand, the projected gradients as the reference recorded them
// — and requires every final tensor to equal the reference's bit for bit:
// the z stream, the parameter order, the +ε −2ε +ε perturbation and the
// update round exactly as the reference's do. No forward pass is involved,
// so this holds whatever BLAS kernels the machine picks.
func TestReferenceParameterPasses(t *testing.T) {
	dir, tr, cfg, _ := loadTrajectory(t)
	for _, name := range []string{"wd0", "wd0.1"} {
		run := tr.Runs[name]
		t.Run(name, func(t *testing.T) {
			m := loadInitial(t, dir, cfg, len(tr.Batch.LabelWords))
			defer m.Close()
			pl, err := m.Params.TrainableList()
			if err != nil {
				t.Fatal(err)
			}
			defer pl.Close()
			rng := nprand.New(tr.Hyper.Seed)
			for _, st := range run.Steps {
				seed := uint64(rng.Randint(1000000000))
				if seed != st.Seed {
					t.Fatalf("step %d: seed %d, reference %d", st.Step, seed, st.Seed)
				}
				for _, sc := range []float64{1, -2, 1} {
					must(t, pl.Perturb(seed, sc, tr.Hyper.Eps))
				}
				must(t, pl.Update(seed, float64(f32hex(t, st.Grad)), tr.Hyper.LR, run.WeightDecay))
			}
			final, err := hf.ReadSafetensors(filepath.Join(dir, run.FinalState))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, p := range m.Params.All() {
				want, ok := final.Tensors[p.Name]
				if !ok {
					t.Fatalf("%s has no %s", run.FinalState, p.Name)
				}
				got, err := p.T.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want.Data) {
					t.Errorf("%s differs from the reference's final state", p.Name)
				}
				n++
			}
			t.Logf("%s: %d steps; all %d final tensors equal the reference bit for bit", name, len(run.Steps), n)
		})
	}
}

// TestReferenceTrajectoryReplay replays the same 20 steps with zo.Step over
// the Go RoBERTa's forward passes. The losses then depend on the matrix kernels
// (OpenBLAS picks them per CPU, and OPENBLAS_CORETYPE overrides the choice),
// so they are held to the fixture's stated tolerances — losses 1e-4
// absolute, projected gradients 1e-2 relative, final per-tensor sums 1e-3
// relative — and the test logs how many steps also matched bit for bit.
func TestReferenceTrajectoryReplay(t *testing.T) {
	dir, tr, cfg, b := loadTrajectory(t)
	threads, _ := torch.NumThreads()
	torch.SetNumThreads(1) // as the reference ran
	defer torch.SetNumThreads(threads)
	for _, name := range []string{"wd0", "wd0.1"} {
		run := tr.Runs[name]
		t.Run(name, func(t *testing.T) {
			m := loadInitial(t, dir, cfg, len(tr.Batch.LabelWords))
			defer m.Close()
			words, _ := torch.FromInt64s(tr.Batch.LabelWords, []int64{int64(len(tr.Batch.LabelWords))}, torch.CPU)
			defer words.Close()
			loss := func() (float32, error) {
				s := torch.NewScope(torch.Inference)
				defer s.Close()
				in, mp, lb := b.Tensors(s, torch.CPU)
				enc := m.Encode(s, in, roberta.ForwardOptions{})
				l := roberta.Loss(s, m.PromptLogits(s, enc.Last, mp, words), lb)
				if err := s.Err(); err != nil {
					return 0, err
				}
				v, err := l.Item()
				return float32(v), err
			}
			lossNow := func() float32 {
				t.Helper()
				v, err := loss()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			pl, err := m.Params.TrainableList()
			if err != nil {
				t.Fatal(err)
			}
			defer pl.Close()
			closeTo := func(what string, got, want float32, abs, rel float64) {
				t.Helper()
				if d := math.Abs(float64(got) - float64(want)); d > abs+rel*math.Abs(float64(want)) {
					t.Fatalf("%s: %v, reference %v (|diff| %.3g)", what, got, want, d)
				}
			}
			closeTo("initial loss", lossNow(), f32hex(t, run.LossInitial), 1e-4, 0)
			rng := nprand.New(tr.Hyper.Seed)
			exact := 0
			cfg := zo.Config{Eps: tr.Hyper.Eps, LR: tr.Hyper.LR, WeightDecay: run.WeightDecay}
			for _, st := range run.Steps {
				seed := uint64(rng.Randint(1000000000))
				r, err := zo.Step(pl, loss, seed, cfg)
				if err != nil {
					t.Fatal(err)
				}
				step := "step " + strconv.Itoa(st.Step)
				closeTo(step+" ℓ+", r.LossPlus, f32hex(t, st.LossPlus), 1e-4, 0)
				closeTo(step+" ℓ−", r.LossMinus, f32hex(t, st.LossMinus), 1e-4, 0)
				closeTo(step+" projected gradient", r.ProjGrad, f32hex(t, st.Grad), 0, 1e-2)
				if r.LossPlus == f32hex(t, st.LossPlus) && r.LossMinus == f32hex(t, st.LossMinus) && r.ProjGrad == f32hex(t, st.Grad) {
					exact++
				}
			}
			closeTo("final loss", lossNow(), f32hex(t, run.LossFinal), 1e-4, 0)
			final, err := hf.ReadSafetensors(filepath.Join(dir, run.FinalState))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params.All() {
				got, _ := p.T.Float32s()
				want, err := final.Tensors[p.Name].Float32s()
				if err != nil {
					t.Fatal(err)
				}
				var gs, ws float64
				for i := range got {
					gs += float64(got[i])
					ws += float64(want[i])
				}
				// Sums of near-zero tensors (biases) are judged against the
				// sum of magnitudes, not the tiny signed sum.
				var mag float64
				for _, w := range want {
					mag += math.Abs(float64(w))
				}
				if math.Abs(gs-ws) > 1e-3*mag {
					t.Errorf("%s: sum %.9g, reference %.9g", p.Name, gs, ws)
				}
			}
			t.Logf("%s: %d steps within tolerance, %d of them bit for bit", name, len(run.Steps), exact)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
