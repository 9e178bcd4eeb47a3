package zo_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/zo"
)

type trajectory struct {
	Batch reftest.FixtureBatch `json:"batch"`
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

// trajSet is one trajectory fixture folder.
type trajSet struct {
	dir string
	tr  *trajectory
	b   *batch.Batch
}

// names are the folder's run names, sorted.
func (ts trajSet) names() []string {
	var out []string
	for n := range ts.tr.Runs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// loadTrajectories reads ../shared's trajectory-a and every folder listed in
// MEZO_TRAJECTORY_DIRS (colon-separated). A listed folder's trajectory.json
// with top-level "runs" is an efficient-MeZO trajectory and runs here; one
// with top-level "case" and "steps" is an ablation trajectory, replayed by
// pkg/train's TestReferenceTrainerPaths and skipped here with a log line;
// anything else — a missing folder, a malformed file, neither layout —
// fails (as it does there).
func loadTrajectories(t *testing.T) []trajSet {
	t.Helper()
	dirs := []string{testenv.SharedPath(t, "fixtures", "mezo-reference", "trajectory-a")}
	dirs = append(dirs, testenv.ListEnv("MEZO_TRAJECTORY_DIRS")...)
	var out []trajSet
	for i, dir := range dirs {
		path := filepath.Join(dir, "trajectory.json")
		var top map[string]json.RawMessage
		reftest.ReadJSON(t, path, &top)
		_, hasRuns := top["runs"]
		_, hasCase := top["case"]
		_, hasSteps := top["steps"]
		switch {
		case hasRuns:
		case hasCase && hasSteps:
			t.Logf("%s: an ablation trajectory (case %s), left to pkg/train TestReferenceTrainerPaths", dir, top["case"])
			continue
		default:
			t.Fatalf("%s: neither an efficient-MeZO trajectory (top-level runs) nor an ablation one (case and steps)", path)
		}
		var tr trajectory
		reftest.ReadJSON(t, path, &tr)
		if len(tr.Runs) == 0 || len(tr.Batch.InputIDs) == 0 {
			t.Fatalf("%s: no runs or no batch", path)
		}
		for name, run := range tr.Runs {
			if len(run.Steps) == 0 || run.FinalState == "" {
				t.Fatalf("%s: run %s has no steps or no final state", path, name)
			}
		}
		if i == 0 {
			for _, name := range []string{"wd0", "wd0.1"} {
				if _, ok := tr.Runs[name]; !ok {
					t.Fatalf("%s has no run %s", path, name)
				}
			}
		}
		b := tr.Batch.Host()
		out = append(out, trajSet{dir: dir, tr: &tr, b: b})
	}
	return out
}

// TestReferenceParameterPasses replays the reference's 20 efficient MeZO
// steps (trajectory-a, both weight decays) on the parameters alone — the
// seeds from nprand, the projected gradients as the reference recorded them
// — and requires every final tensor to equal the reference's bit for bit:
// the z stream, the parameter order, the +ε −2ε +ε perturbation and the
// update round exactly as the reference's do. No forward pass is involved,
// so this holds whatever BLAS kernels the machine picks.
func TestReferenceParameterPasses(t *testing.T) {
	for _, ts := range loadTrajectories(t) {
		for _, name := range ts.names() {
			dir, tr, run := ts.dir, ts.tr, ts.tr.Runs[name]
			t.Run(filepath.Base(dir)+"/"+name, func(t *testing.T) {
				m := reftest.PromptModel(t, dir, len(tr.Batch.LabelWords))
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
						reftest.Must(t, pl.Perturb(seed, sc, tr.Hyper.Eps))
					}
					reftest.Must(t, pl.Update(seed, float64(reftest.F32(t, st.Grad)), tr.Hyper.LR, run.WeightDecay))
				}
				c := reftest.CompareFinal(t, m, filepath.Join(dir, run.FinalState))
				for _, n := range c.Differ {
					t.Errorf("%s differs from the reference's final state", n)
				}
				t.Logf("%s: %d steps; all %d final tensors equal the reference bit for bit", name, len(run.Steps), c.Tensors)
			})
		}
	}
}

// TestReferenceTrajectoryReplay replays the same 20 steps with zo.Step over
// the Go RoBERTa's forward passes. The losses then depend on the matrix kernels
// (OpenBLAS picks them per CPU, and OPENBLAS_CORETYPE overrides the choice),
// so they are held to the fixture's stated tolerances — losses 1e-4
// absolute, projected gradients 1e-2 relative, final per-tensor sums 1e-3
// relative — and the test logs how many steps also matched bit for bit.
func TestReferenceTrajectoryReplay(t *testing.T) {
	threads, _ := torch.NumThreads()
	torch.SetNumThreads(1) // as the reference ran
	defer torch.SetNumThreads(threads)
	for _, ts := range loadTrajectories(t) {
		for _, name := range ts.names() {
			dir, tr, b, run := ts.dir, ts.tr, ts.b, ts.tr.Runs[name]
			t.Run(filepath.Base(dir)+"/"+name, func(t *testing.T) {
				m := reftest.PromptModel(t, dir, len(tr.Batch.LabelWords))
				defer m.Close()
				ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: tr.Batch.LabelWords})
				reftest.Must(t, err)
				defer ob.Close()
				loss := func() (float32, error) { return ob.Loss(b) }
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
				closeTo("initial loss", lossNow(), reftest.F32(t, run.LossInitial), 1e-4, 0)
				rng := nprand.New(tr.Hyper.Seed)
				exact := 0
				cfg := zo.Config{Eps: tr.Hyper.Eps, LR: tr.Hyper.LR, WeightDecay: run.WeightDecay, SeparateRestore: true}
				for _, st := range run.Steps {
					seed := uint64(rng.Randint(1000000000))
					r, err := zo.Step(pl, loss, seed, cfg)
					if err != nil {
						t.Fatal(err)
					}
					step := "step " + strconv.Itoa(st.Step)
					closeTo(step+" ℓ+", r.LossPlus, reftest.F32(t, st.LossPlus), 1e-4, 0)
					closeTo(step+" ℓ−", r.LossMinus, reftest.F32(t, st.LossMinus), 1e-4, 0)
					closeTo(step+" projected gradient", r.ProjGrad, reftest.F32(t, st.Grad), 0, 1e-2)
					if r.LossPlus == reftest.F32(t, st.LossPlus) && r.LossMinus == reftest.F32(t, st.LossMinus) && r.ProjGrad == reftest.F32(t, st.Grad) {
						exact++
					}
				}
				closeTo("final loss", lossNow(), reftest.F32(t, run.LossFinal), 1e-4, 0)
				c := reftest.CompareFinal(t, m, filepath.Join(dir, run.FinalState))
				for _, n := range c.SumOff {
					t.Errorf("%s: final sum off by more than 1e-3 of its magnitude", n)
				}
				t.Logf("%s: %d steps within tolerance, %d of them bit for bit", name, len(run.Steps), exact)
			})
		}
	}
}
