package train_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// trainerArgs are the reference flags of a mezo-reference-trainer folder.
type trainerArgs struct {
	ZO            bool    `json:"zero_order_optim"`
	Efficient     bool    `json:"efficient_zero_order"`
	TrainerOptim  bool    `json:"zero_order_use_trainer_optim"`
	Optimizer     string  `json:"optimizer"`
	LR            float64 `json:"learning_rate"`
	WeightDecay   float64 `json:"weight_decay"`
	Eps           float64 `json:"zero_order_eps"`
	Scheduler     string  `json:"lr_scheduler_type"`
	Warmup        int     `json:"warmup_steps"`
	WarmupRatio   float64 `json:"warmup_ratio"`
	MaxSteps      int     `json:"max_steps"`
	Sample        int     `json:"zero_order_sample"`
	SampleSched   *string `json:"zero_order_sample_scheduler"`
	ScaleLR       bool    `json:"scale_lr_with_samples"`
	ClipGrad      bool    `json:"zero_order_clip_grad"`
	MaxGradNorm   float64 `json:"max_grad_norm"`
	Variant       *string `json:"zo_variant"`
	Recompute     bool    `json:"recompute_norms"`
	ZOGradEst     bool    `json:"use_zo_grad_est"`
	ScaleByN      bool    `json:"scale_norm_by_num_params"`
	ChangeGrad    bool    `json:"change_grad_estimate"`
	OptimizeAcc   bool    `json:"optimize_acc"`
	Beta1         float64 `json:"adam_beta1"`
	Beta2         float64 `json:"adam_beta2"`
	AdamEps       float64 `json:"adam_epsilon"`
	GradAccum     int     `json:"gradient_accumulation_steps"`
	NormRunning   bool    `json:"norm_running_update"`
	ZOByLayer     bool    `json:"zo_by_layer"`
	OptimVariant  string  `json:"optimizer_variant"`
	PerDeviceSize int     `json:"per_device_train_batch_size"`
}

type trainerFixture struct {
	Case  string               `json:"case"`
	Args  trainerArgs          `json:"training_args"`
	Batch reftest.FixtureBatch `json:"batch"`
	Hyper struct {
		NumpySeed uint32 `json:"numpy_seed"`
		TorchSeed uint64 `json:"torch_seed"`
	} `json:"hyperparameters"`
	Steps []struct {
		Step    int `json:"step"`
		NT      int `json:"n_t"`
		Samples []struct {
			Seed      *uint64 `json:"seed"`
			LossPlus  string  `json:"loss_plus_f32"`
			LossMinus string  `json:"loss_minus_f32"`
			Grad      string  `json:"projected_grad_f32"`
		} `json:"samples"`
		Forwards int     `json:"zo_forward_step"`
		LRUsed   float64 `json:"lr_used"`
		GradNorm string  `json:"grad_norm_reference_f32"`
		InitC    *struct {
			CS map[string]struct {
				Value string `json:"value_f32"`
			} `json:"cs"`
		} `json:"initialize_c"`
	} `json:"steps"`
	FinalState string `json:"final_state"`
}

// trainerDirs are the folders of ../shared/fixtures/mezo-reference-trainer
// and the MEZO_TRAJECTORY_DIRS entries whose trajectory.json has top-level
// case and steps (the other kind, top-level runs, is the efficient
// trajectory test's in pkg/zo; anything else fails there and here).
func trainerDirs(t *testing.T) []string {
	t.Helper()
	root := testenv.SharedPath(t, "fixtures", "mezo-reference-trainer")
	ents, err := os.ReadDir(root)
	reftest.Must(t, err)
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Fatalf("%s holds no fixture folders", root)
	}
	for _, dir := range testenv.ListEnv("MEZO_TRAJECTORY_DIRS") {
		var top map[string]json.RawMessage
		reftest.ReadJSON(t, filepath.Join(dir, "trajectory.json"), &top)
		_, hasRuns := top["runs"]
		_, hasCase := top["case"]
		_, hasSteps := top["steps"]
		switch {
		case hasCase && hasSteps:
			dirs = append(dirs, dir)
		case hasRuns:
			t.Logf("%s: an efficient-MeZO trajectory, left to pkg/zo's trajectory test", dir)
		default:
			t.Fatalf("%s/trajectory.json: neither an ablation trajectory (case and steps) nor an efficient one (runs)", dir)
		}
	}
	return dirs
}

// fixtureRecipe is the recipe of a folder's reference flags, in reference
// mode; it fails on a flag the replay does not express.
func fixtureRecipe(t *testing.T, a trainerArgs) *recipe.Recipe {
	t.Helper()
	if a.GradAccum > 1 || a.NormRunning || a.ZOByLayer || a.OptimVariant != "" {
		t.Fatalf("flags the replay does not express: %+v", a)
	}
	kind := recipe.FT
	if a.ZO {
		kind = recipe.MeZO
	}
	r, err := recipe.Parse("fixture.yaml", []byte("reference: true\nmodel: {path: fixture}\ntask: {name: SST-2, data_dir: fixture}\nmethod: {kind: "+string(kind)+"}\n"))
	reftest.Must(t, err)
	me, o := &r.Method, &r.Optim
	me.Eps, me.Efficient, me.TrainerOptim = a.Eps, a.Efficient, a.TrainerOptim
	me.Samples, me.ScaleLRWithSamples, me.ClipGrad = max(1, a.Sample), a.ScaleLR, a.ClipGrad
	if a.SampleSched != nil {
		me.SampleSchedule = recipe.SampleSchedule(*a.SampleSched)
	} else {
		me.Samples = 1 // the reference ignores zero_order_sample without a schedule
	}
	if a.OptimizeAcc {
		me.Loss = recipe.LossNegAcc
	}
	if a.Variant != nil {
		me.ZOVariant = recipe.ZOVariant(*a.Variant)
	}
	me.RecomputeNorms, me.UseZOGradEst, me.ScaleNormByNumParams, me.ChangeGradEstimate = a.Recompute, a.ZOGradEst, a.ScaleByN, a.ChangeGrad
	o.Name = recipe.SGD
	if a.Optimizer == "adam" && (a.TrainerOptim || !a.ZO) {
		o.Name = recipe.AdamW
	}
	if !a.TrainerOptim && a.ZO {
		o.Schedule = recipe.ScheduleConstant // the inline step ignores the schedule
	} else {
		o.Schedule = recipe.Schedule(a.Scheduler)
	}
	o.LR, o.WeightDecay, o.WarmupSteps, o.WarmupRatio, o.MaxSteps = a.LR, a.WeightDecay, a.Warmup, a.WarmupRatio, a.MaxSteps
	o.MaxGradNorm, o.AdamBeta1, o.AdamBeta2, o.AdamEpsilon, o.BatchSize = a.MaxGradNorm, a.Beta1, a.Beta2, a.AdamEps, a.PerDeviceSize
	if err := r.Validate(); err != nil {
		t.Fatalf("the folder's flags give an invalid recipe: %v", err)
	}
	return r
}

// TestReferenceTrainerPaths replays every trainer-path folder through the
// library's methods (train.NewMethod, what `mezo run` uses) in reference
// mode: seeds from our numpy stream, z from our global generator (one
// DataLoader random64 per step, as each step is an epoch here), our n_t,
// scaling, d_c, schedule and forward count. The recorded ℓ+ and ℓ− are fed
// back (teacher forcing) after our own forwards have been checked against
// them to the README's tolerance, so everything downstream must equal the
// reference bit for bit: projected gradients, learning rates, forward
// counts, the logged gradient norm, d_c from parameters, final tensors.
// grad_norm's backprop d_c depends on the BLAS kernels: 1e-4 relative, and
// the final state then to the README's tolerance. Fine-tuning folders go to
// the fine-tuning replay.
func TestReferenceTrainerPaths(t *testing.T) {
	threads, _ := torch.NumThreads()
	torch.SetNumThreads(1) // as the reference ran
	defer torch.SetNumThreads(threads)
	for _, dir := range trainerDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var fx trainerFixture
			reftest.ReadJSON(t, filepath.Join(dir, "trajectory.json"), &fx)
			if len(fx.Steps) == 0 || fx.FinalState == "" || len(fx.Batch.InputIDs) == 0 {
				t.Fatalf("%s: no steps, final state or batch: nothing to compare", dir)
			}
			if !fx.Args.ZO {
				replayFineTuningDir(t, dir)
				return
			}
			replayTrainer(t, dir, &fx)
		})
	}
}

func replayTrainer(t *testing.T, dir string, fx *trainerFixture) {
	r := fixtureRecipe(t, fx.Args)
	s := fixtureSession(t, dir, r, fx.Batch.LabelWords)
	defer s.Close()
	m := s.Model
	global, err := torch.NewGenerator(torch.CPU, fx.Hyper.TorchSeed)
	reftest.Must(t, err)
	defer global.Close()
	stream := nprand.New(fx.Hyper.NumpySeed)

	lossTol := 1e-4
	if r.Method.ZOVariant == recipe.VariantParamNorm {
		lossTol = 1e-3
	}
	var worstLoss float64
	teacher := &train.Teacher{
		SampleLosses: func(k, j int, mp, mm float32) (float32, float32, bool) {
			smp := fx.Steps[k].Samples[j]
			wp, wm := reftest.F32(t, smp.LossPlus), reftest.F32(t, smp.LossMinus)
			for _, d := range []float64{math.Abs(float64(mp - wp)), math.Abs(float64(mm - wm))} {
				if d > lossTol {
					t.Fatalf("step %d sample %d: our loss differs from the reference's by %.3g (ℓ+ %v / %v, ℓ− %v / %v)", k+1, j+1, d, mp, wp, mm, wm)
				}
				worstLoss = max(worstLoss, d)
			}
			return wp, wm, true
		},
	}
	meth, err := train.NewMethod(s, global, r.Optim.MaxSteps, teacher)
	reftest.Must(t, err)
	defer meth.Close()
	sm, perSample := meth.(train.SampleStepper)
	forwards, dcExact, dcChecked := 0, 0, 0
	var worstDC float64
	for k, st := range fx.Steps {
		_, err := global.Random64() // the epoch's DataLoader base seed
		reftest.Must(t, err)
		var rec train.StepRecord
		if perSample {
			env := train.StepEnv{Global: global, EpochStart: true, Seed: func() uint64 { return uint64(stream.Randint(1000000000)) }}
			rec, err = sm.StepSamples(fx.Batch.Host(), env, k)
		} else {
			seed := uint64(stream.Randint(1000000000))
			rec, err = meth.Step(fx.Batch.Host(), seed, k)
			rec.NT = 1
			rec.Samples = []train.SampleRecord{{Seed: seed, LossPlus: rec.LossPlus, LossMinus: rec.LossMinus, ProjGrad: rec.ProjGrad}}
		}
		reftest.Must(t, err)
		step := fmt.Sprintf("step %d", st.Step)
		if rec.NT != st.NT || len(rec.Samples) != len(st.Samples) {
			t.Fatalf("%s: n_t %d (%d samples), reference %d (%d)", step, rec.NT, len(rec.Samples), st.NT, len(st.Samples))
		}
		for j, smp := range st.Samples {
			got := rec.Samples[j]
			if smp.Seed != nil && got.Seed != *smp.Seed {
				t.Fatalf("%s sample %d: seed %d, reference %d", step, j+1, got.Seed, *smp.Seed)
			}
			if !perSample && (got.LossPlus != reftest.F32(t, smp.LossPlus) || got.LossMinus != reftest.F32(t, smp.LossMinus)) {
				// The plain step is not teacher-forced: −accuracy must match exactly.
				t.Fatalf("%s: ℓ+ %v ℓ− %v, reference %v %v", step, got.LossPlus, got.LossMinus, reftest.F32(t, smp.LossPlus), reftest.F32(t, smp.LossMinus))
			}
			if g := reftest.F32(t, smp.Grad); got.ProjGrad != g {
				t.Fatalf("%s sample %d: projected gradient %v, reference %v", step, j+1, got.ProjGrad, g)
			}
		}
		if rec.StepForwards > 0 {
			forwards += rec.StepForwards
		} else {
			forwards += meth.ForwardsPerStep()
		}
		if forwards != st.Forwards {
			t.Fatalf("%s: %d forward passes counted, reference %d", step, forwards, st.Forwards)
		}
		if r.Method.TrainerOptim {
			if rec.LR != st.LRUsed {
				t.Fatalf("%s: learning rate %v, reference %v", step, rec.LR, st.LRUsed)
			}
			if want := reftest.F32(t, st.GradNorm); float32(rec.GradNorm) != want && math.Abs(rec.GradNorm-float64(want)) > 2e-2*float64(want) {
				t.Fatalf("%s: gradient norm %v, reference %v", step, rec.GradNorm, want)
			}
		}
		if st.InitC != nil {
			if rec.DC == nil {
				t.Fatalf("%s: the reference computed d_c, we did not", step)
			}
			keys := train.VariantKeys(m.Config.Layers)
			for g, key := range keys {
				want, ok := st.InitC.CS[key]
				if !ok {
					t.Fatalf("%s: the reference has no d_c for group %q", step, key)
				}
				w := reftest.F32(t, want.Value)
				d := math.Abs(float64(rec.DC[g]-w)) / math.Abs(float64(w))
				if d > 1e-4 {
					t.Fatalf("%s: d_c[%s] %v, reference %v", step, key, rec.DC[g], w)
				}
				worstDC = max(worstDC, d)
				dcChecked++
				if rec.DC[g] == w {
					dcExact++
				}
			}
		} else if rec.DC != nil && k > 0 {
			t.Fatalf("%s: we recomputed d_c, the reference did not", step)
		}
	}
	c := reftest.CompareFinal(t, m, filepath.Join(dir, fx.FinalState))
	backpropDC := r.Method.ZOVariant == recipe.VariantGradNorm && !r.Method.UseZOGradEst
	if backpropDC && dcExact < dcChecked {
		for _, n := range c.SumOff {
			t.Errorf("%s: final sum off by more than 1e-3 of its magnitude", n)
		}
	} else if len(c.Differ) > 0 {
		t.Errorf("%d final tensors differ from the reference's: %v", len(c.Differ), c.Differ)
	}
	t.Logf("%s (%s): %d steps; our losses within %.2g of the reference's; seeds, n_t, projected gradients, lr, forwards bit for bit; d_c %d/%d bit for bit (worst rel %.2g); %d of %d final tensors bit for bit",
		filepath.Base(dir), fx.Case, len(fx.Steps), worstLoss, dcExact, dcChecked, worstDC, c.Identical, c.Tensors)
}

// fixtureSession is a session over a fixture folder's model (every tensor
// trainable, as the reference's) with the recipe's objective; the caller
// closes it.
func fixtureSession(t *testing.T, dir string, r *recipe.Recipe, labelWords []int64) *train.Session {
	t.Helper()
	m := reftest.PromptModel(t, dir, len(labelWords))
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: labelWords,
		NegAccuracy: r.Method.Loss == recipe.LossNegAcc})
	reftest.Must(t, err)
	pl, err := m.Params.TrainableList()
	reftest.Must(t, err)
	s := &train.Session{Recipe: r, Model: m, Objective: ob, Params: pl}
	for _, p := range m.Params.Trainable() {
		s.Names = append(s.Names, p.Name)
	}
	return s
}
