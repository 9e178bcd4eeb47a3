package train_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/probe"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// refRun is what a run folder's expected.json records.
type refRun struct {
	Steps []struct {
		Step        int     `json:"step"`
		Seed        uint64  `json:"seed"`
		LossPlus    string  `json:"loss_plus_f32"`
		LossMinus   string  `json:"loss_minus_f32"`
		ProjGrad    string  `json:"projected_grad_f32"`
		Loss        string  `json:"loss_f32"`
		GradNorm    string  `json:"grad_norm_preclip_f32"`
		LR          float64 `json:"lr"`
		Batch       []int   `json:"batch_indices"`
		ForwardsEnd int     `json:"zo_forward_step_after"`
	} `json:"steps"`
	TrainLog []map[string]any `json:"train_log"`
	Evals    []struct {
		Step    int                           `json:"step"`
		Loss    string                        `json:"eval_loss_f32"`
		Correct int                           `json:"n_correct"`
		N       int                           `json:"n_examples"`
		Digest  map[string]map[string]float64 `json:"state_digest"`
		Logits  string                        `json:"logits"`
	} `json:"evals"`
	BestStep int `json:"best_step"`
	Final    map[string]struct {
		Loss    string  `json:"eval_loss_f32"`
		Acc     float64 `json:"eval_acc"`
		Correct int     `json:"n_correct"`
		N       int     `json:"n_examples"`
		Logits  string  `json:"logits"`
	} `json:"final"`
	FinalCopy map[string]struct {
		Correct int `json:"n_correct"`
	} `json:"final_if_best_ckpt_were_a_copy"`
	FinalState string `json:"final_state"`
	Forwards   int    `json:"zo_forward_steps"`
	GlobalStep int    `json:"global_step"`
	StoppedBy  string `json:"stopped_by"`
}

// runSets lists the run-set folders: the shared one and MEZO_RUN_DIRS.
func runSets(t *testing.T) []string {
	sets := []string{testenv.SharedPath(t, "fixtures", "mezo-reference-run")}
	for _, d := range testenv.ListEnv("MEZO_RUN_DIRS") {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Fatalf("MEZO_RUN_DIRS: %s is not a directory", d)
		}
		sets = append(sets, d)
	}
	return sets
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1e-30)
}

// TestReferenceRuns runs every run folder of every run set through the code
// path `mezo run` uses (recipe from args.json, train.NewSession, train.Loop)
// from initial.safetensors, teacher-forced with the recorded projected
// gradients, and compares every step, evaluation and the final state.
func TestReferenceRuns(t *testing.T) {
	threads, _ := torch.NumThreads()
	torch.SetNumThreads(1) // as the reference ran
	defer torch.SetNumThreads(threads)
	for _, set := range runSets(t) {
		found := 0
		for _, run := range []string{"mezo", "mezo-fwd", "ft", "zero-shot"} {
			dir := filepath.Join(set, run)
			if _, err := os.Stat(filepath.Join(dir, "args.json")); err != nil {
				continue
			}
			found++
			t.Run(filepath.Base(set)+"/"+run, func(t *testing.T) { checkRun(t, dir, true) })
			if run == "mezo" || run == "mezo-fwd" {
				t.Run(filepath.Base(set)+"/"+run+"/free", func(t *testing.T) { checkRun(t, dir, false) })
			}
		}
		if found == 0 {
			t.Errorf("%s: no run folder (mezo, mezo-fwd, ft, zero-shot) with an args.json", set)
		}
	}
}

func checkRun(t *testing.T, dir string, forced bool) { checkRunWith(t, dir, forced, runOptions{}) }

// runOptions adapt checkRun to run folders outside mezo-reference-run.
type runOptions struct {
	// prep edits the recipe built from args.json (paths the folder lacks).
	prep func(*recipe.Recipe)
	// probe, when set, replaces the run's linear probe (teacher-forced).
	probe *probe.Fit
	// onProbe sees the probe once written.
	onProbe func(*train.ProbeRecord, *train.Session)
}

func checkRunWith(t *testing.T, dir string, forced bool, ro runOptions) {
	var want refRun
	reftest.ReadJSON(t, filepath.Join(dir, "expected.json"), &want)
	r, err := recipe.FromReferenceArgs(filepath.Join(dir, "args.json"))
	reftest.Must(t, err)
	if ro.prep != nil {
		ro.prep(r)
		reftest.Must(t, r.Validate())
	}
	s, err := train.NewSession(r)
	reftest.Must(t, err)
	defer s.Close()
	logits, err := hf.ReadSafetensors(filepath.Join(dir, "eval_logits.safetensors"))
	reftest.Must(t, err)

	teacher := &train.Teacher{}
	if forced && r.Method.Kind == recipe.MeZO {
		teacher.ProjGrad = func(k int) (float32, bool) {
			if k < len(want.Steps) {
				return reftest.F32(t, want.Steps[k].ProjGrad), true
			}
			return 0, false
		}
	}
	if ro.probe != nil {
		teacher.Probe = func(*probe.Fit) (*probe.Fit, bool) { return ro.probe, true }
	}
	compared := 0
	var steps []train.StepRecord
	var logSteps []int
	evalN := 0
	flips := map[string]int{}
	checkEval := func(ev *train.EvalRecord, wantLoss string, wantCorrect int, key string) {
		wl := reftest.F32(t, wantLoss)
		if !relClose(float64(ev.Loss), float64(wl), 1e-5) {
			t.Errorf("%s at step %d: eval loss %v, reference %v", key, ev.Step, ev.Loss, wl)
		}
		lt, ok := logits.Tensors[key]
		if !ok {
			t.Fatalf("eval_logits has no %s", key)
		}
		wlog, err := lt.Float32s()
		reftest.Must(t, err)
		if len(wlog) != len(ev.Logits) {
			t.Fatalf("%s: %d logits, reference %d", key, len(ev.Logits), len(wlog))
		}
		for i := range wlog {
			if math.Abs(float64(ev.Logits[i]-wlog[i])) > 1e-4 {
				t.Errorf("%s: logit %d = %v, reference %v", key, i, ev.Logits[i], wlog[i])
				break
			}
		}
		// A prediction whose recorded top two logits are within 1e-4 may
		// flip; count those.
		C := ev.Classes
		close := 0
		for i := 0; i < len(wlog)/C; i++ {
			row := wlog[i*C : (i+1)*C]
			a, b := float32(math.Inf(-1)), float32(math.Inf(-1))
			for _, v := range row {
				if v > a {
					a, b = v, a
				} else if v > b {
					b = v
				}
			}
			if a-b < 1e-4 {
				close++
			}
		}
		if d := ev.Correct - wantCorrect; d != 0 {
			flips[key] = d
			if d > close || d < -close || abs(d) > 1 {
				t.Errorf("%s: %d correct, reference %d (%d near-ties)", key, ev.Correct, wantCorrect, close)
			}
		}
		compared += len(wlog) + 2
	}
	hooks := train.Hooks{
		Probe: ro.onProbe,
		Step:  func(rec train.StepRecord) { steps = append(steps, rec) },
		Log:   func(l train.LogRecord) { logSteps = append(logSteps, l.Step) },
		Eval: func(ev *train.EvalRecord, s *train.Session) {
			if ev.Final {
				return
			}
			if evalN >= len(want.Evals) {
				t.Errorf("an evaluation at step %d the reference did not make", ev.Step)
				return
			}
			w := want.Evals[evalN]
			evalN++
			if ev.Step != w.Step {
				t.Errorf("evaluation %d at step %d, reference at %d", evalN, ev.Step, w.Step)
			}
			if forced {
				checkEval(ev, w.Loss, w.Correct, strings.TrimPrefix(w.Logits, "eval_logits.safetensors: "))
			}
			if forced && s.Recipe.Method.Kind == recipe.MeZO {
				// The parameters at this evaluation, against the recorded digests.
				for _, p := range s.Model.Params.All() {
					d, ok := w.Digest[p.Name]
					if !ok {
						continue
					}
					v, err := p.T.Float32s()
					reftest.Must(t, err)
					var sum, sq float64
					for _, x := range v {
						sum += float64(x)
						sq += float64(x) * float64(x)
					}
					if !relClose(sum, d["sum"], 1e-9) || !relClose(sq, d["sumsq"], 1e-9) {
						t.Errorf("step %d: %s digest (%.12g, %.12g), reference (%.12g, %.12g)", ev.Step, p.Name, sum, sq, d["sum"], d["sumsq"])
					}
					compared += 2
				}
			}
		},
	}
	out, err := train.Loop(s, hooks, teacher)
	reftest.Must(t, err)

	// Steps: seeds and batches exact; losses within 1e-5.
	if len(steps) != len(want.Steps) {
		t.Errorf("%d steps, reference %d", len(steps), len(want.Steps))
	}
	for k := 0; k < min(len(steps), len(want.Steps)); k++ {
		g, w := steps[k], want.Steps[k]
		if !slices.Equal(g.Batch, w.Batch) {
			t.Fatalf("step %d: batch %v, reference %v", k+1, g.Batch, w.Batch)
		}
		if r.Method.Kind == recipe.MeZO {
			if g.Seed != w.Seed {
				t.Fatalf("step %d: seed %d, reference %d", k+1, g.Seed, w.Seed)
			}
			if g.Forwards != w.ForwardsEnd {
				t.Errorf("step %d: %d forward passes, reference %d", k+1, g.Forwards, w.ForwardsEnd)
			}
			if forced {
				for _, c := range []struct {
					what string
					got  float32
					want string
				}{{"ℓ+", g.LossPlus, w.LossPlus}, {"ℓ−", g.LossMinus, w.LossMinus}} {
					if wv := reftest.F32(t, c.want); !relClose(float64(c.got), float64(wv), 1e-5) {
						t.Errorf("step %d: %s %v, reference %v", k+1, c.what, c.got, wv)
					}
				}
			}
		} else {
			if g.LR != w.LR {
				t.Errorf("step %d: learning rate %v, reference %v", k+1, g.LR, w.LR)
			}
			if wl := reftest.F32(t, w.Loss); !relClose(float64(g.Loss), float64(wl), 1e-5) {
				t.Errorf("step %d: loss %v, reference %v", k+1, g.Loss, wl)
			}
			if wn := reftest.F32(t, w.GradNorm); !relClose(g.GradNorm, float64(wn), 1e-4) {
				t.Errorf("step %d: gradient norm %v, reference %v", k+1, g.GradNorm, wn)
			}
		}
		compared += 4
	}
	// Log steps, counters, stop reason, best step.
	var wantLog []int
	for _, e := range want.TrainLog {
		if _, ok := e["loss"]; ok {
			wantLog = append(wantLog, int(e["step"].(float64)))
		}
	}
	if !slices.Equal(logSteps, wantLog) {
		t.Errorf("log steps %v, reference %v", logSteps, wantLog)
	}
	if out.GlobalStep != want.GlobalStep || out.Forwards != want.Forwards {
		t.Errorf("global step %d and %d forward passes, reference %d and %d", out.GlobalStep, out.Forwards, want.GlobalStep, want.Forwards)
	}
	if want.GlobalStep > 0 && want.StoppedBy != "" && out.StoppedBy != want.StoppedBy {
		t.Errorf("stopped by %q, reference %q", out.StoppedBy, want.StoppedBy)
	}
	if evalN != len(want.Evals) {
		t.Errorf("%d evaluations during training, reference %d", evalN, len(want.Evals))
	}
	if len(want.Evals) > 0 && out.BestStep != want.BestStep {
		t.Errorf("best step %d, reference %d", out.BestStep, want.BestStep)
	}
	// Final evaluations.
	for split, ev := range map[string]*train.EvalRecord{"dev": out.Dev, "test": out.Test} {
		w, ok := want.Final[split]
		if !ok || ev == nil {
			t.Errorf("final %s: ours %v, reference recorded %v", split, ev != nil, ok)
			continue
		}
		wc := w.Correct
		if c, ok := want.FinalCopy[split]; ok {
			wc = c.Correct // the reference's CPU snapshot aliased the live weights
		}
		if forced {
			checkEval(ev, w.Loss, wc, "final."+split)
		} else {
			tol := max(1, int(math.Ceil(0.01*float64(w.N))))
			t.Logf("free-running final %s: %d/%d correct, reference %d/%d", split, ev.Correct, w.N, wc, w.N)
			if abs(ev.Correct-wc) > tol {
				t.Errorf("free-running final %s: %d correct, reference %d (tolerance %d)", split, ev.Correct, wc, tol)
			}
		}
	}
	if forced && r.Method.Kind == recipe.MeZO && want.FinalState != "" {
		path := filepath.Join(dir, want.FinalState)
		if _, err := os.Stat(path); err == nil {
			c := reftest.CompareFinal(t, s.Model, path)
			if c.Identical != c.Tensors {
				t.Errorf("final state: %d of %d tensors bit for bit; differ: %v", c.Identical, c.Tensors, c.Differ)
			}
			compared += c.Tensors
		}
	}
	t.Logf("%s (forced %v): %d steps, %d evaluations, best step %d, stopped by %s; %d values compared; count flips %v",
		filepath.Base(dir), forced, len(steps), evalN, out.BestStep, out.StoppedBy, compared, flips)
	if compared == 0 && forced {
		t.Error("nothing compared")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
