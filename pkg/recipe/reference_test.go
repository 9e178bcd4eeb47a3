package recipe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// runNames are the runs of a reference-run set (shared/fixtures/
// mezo-reference-run and the sets listed in MEZO_RUN_DIRS).
var runNames = []string{"mezo", "mezo-fwd", "ft", "zero-shot"}

// referenceRunDirs lists every run folder of every reference-run set.
func referenceRunDirs(t *testing.T) []string {
	t.Helper()
	sets := append([]string{testenv.SharedPath(t, "fixtures", "mezo-reference-run")}, testenv.ListEnv("MEZO_RUN_DIRS")...)
	var out []string
	for _, set := range sets {
		for _, run := range runNames {
			dir := filepath.Join(set, run)
			if _, err := os.Stat(filepath.Join(dir, "args.json")); err != nil {
				t.Fatalf("reference-run set %s: %v", set, err)
			}
			out = append(out, dir)
		}
	}
	return out
}

// refArgsJSON is what the test reads of an args.json on its own.
type refArgsJSON struct {
	Task     string `json:"task"`
	DataDir  string `json:"data_dir"`
	Template string `json:"template"`
	Mapping  string `json:"mapping"`
	Data     struct {
		MaxSeqLength   int  `json:"max_seq_length"`
		FirstSentLimit *int `json:"first_sent_limit"`
		OtherSentLimit *int `json:"other_sent_limit"`
		NumK           int  `json:"num_k"`
		NumSample      int  `json:"num_sample"`
		DoubleDemo     bool `json:"double_demo"`
	} `json:"parsed_data_args"`
	Model struct {
		FewShotType string `json:"few_shot_type"`
	} `json:"parsed_model_args"`
	Training struct {
		LR                float64 `json:"learning_rate"`
		Eps               float64 `json:"zero_order_eps"`
		WeightDecay       float64 `json:"weight_decay"`
		MaxSteps          int     `json:"max_steps"`
		MaxZOForwardSteps int     `json:"max_zo_forward_steps"`
		EvalSteps         int     `json:"eval_steps"`
		LoggingSteps      int     `json:"logging_steps"`
		TrainBatch        int     `json:"per_device_train_batch_size"`
		EvalBatch         int     `json:"per_device_eval_batch_size"`
		Seed              int     `json:"seed"`
		Scheduler         string  `json:"lr_scheduler_type"`
		Optimizer         string  `json:"optimizer"`
		DuringTraining    bool    `json:"evaluate_during_training"`
		DoEval            bool    `json:"do_eval"`
		DoPredict         bool    `json:"do_predict"`
		DoTrain           bool    `json:"do_train"`
		ZO                bool    `json:"zero_order_optim"`
		Efficient         bool    `json:"efficient_zero_order"`
		AdamEps           float64 `json:"adam_epsilon"`
		MaxGradNorm       float64 `json:"max_grad_norm"`
	} `json:"parsed_training_args"`
}

// check is one expected value.
type check struct {
	what      string
	got, want any
}

func TestFromReferenceArgs(t *testing.T) {
	for _, dir := range referenceRunDirs(t) {
		path := filepath.Join(dir, "args.json")
		t.Run(strings.TrimPrefix(path, testenv.Shared(t)), func(t *testing.T) {
			r, err := FromReferenceArgs(path)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var a refArgsJSON
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			tr := a.Training
			wantKind := map[string]Kind{"mezo": MeZO, "mezo-fwd": MeZO, "ft": FT, "zero-shot": ZeroShot}[filepath.Base(dir)]
			limit := func(p *int) int {
				if p == nil {
					return 0
				}
				return *p
			}
			checks := []check{
				{"method.kind", r.Method.Kind, wantKind},
				{"reference", r.Reference, true},
				{"quirks", r.Quirks(), Quirks{RestorePass: true, StopPastBudget: true, TrainUnusedHeads: true, InconsistentVariants: true, AccumulationWindows: true}},
				{"method.seed_stream", r.Method.SeedStream, SeedReferenceData},
				{"method.eps", r.Method.Eps, tr.Eps},
				{"method.efficient", r.Method.Efficient, tr.Efficient},
				{"optim.lr", r.Optim.LR, tr.LR},
				{"optim.weight_decay", r.Optim.WeightDecay, tr.WeightDecay},
				{"optim.adam_epsilon", r.Optim.AdamEpsilon, tr.AdamEps},
				{"optim.max_grad_norm", r.Optim.MaxGradNorm, tr.MaxGradNorm},
				{"optim.max_steps", r.Optim.MaxSteps, tr.MaxSteps},
				{"optim.max_zo_forward_steps", r.Optim.MaxZOForwardSteps, tr.MaxZOForwardSteps},
				{"optim.batch_size", r.Optim.BatchSize, tr.TrainBatch},
				{"optim.seed", r.Optim.Seed, tr.Seed},
				{"eval.steps", r.Eval.Steps, tr.EvalSteps},
				{"eval.batch_size", r.Eval.BatchSize, tr.EvalBatch},
				{"eval.logging_steps", r.Eval.LoggingSteps, tr.LoggingSteps},
				{"eval.during_training", r.Eval.DuringTraining, tr.DuringTraining},
				{"eval.do_eval", r.Eval.DoEval, tr.DoEval},
				{"eval.do_predict", r.Eval.DoPredict, tr.DoPredict},
				{"task.name", r.Task.Name, a.Task},
				{"task.few_shot_type", r.Task.FewShotType, lmbff.Mode(a.Model.FewShotType)},
				{"task.template", r.Task.Template, a.Template},
				{"task.mapping", r.Task.Mapping, a.Mapping},
				{"task.max_seq_length", r.Task.MaxSeqLength, a.Data.MaxSeqLength},
				{"task.first_sent_limit", r.Task.FirstSentLimit, limit(a.Data.FirstSentLimit)},
				{"task.other_sent_limit", r.Task.OtherSentLimit, limit(a.Data.OtherSentLimit)},
				{"task.num_k", r.Task.NumK, a.Data.NumK},
				{"task.num_sample", r.Task.NumSample, a.Data.NumSample},
				{"task.double_demo", r.Task.DoubleDemo, a.Data.DoubleDemo},
				{"runtime.device", r.Runtime.Device, "cpu"},
				{"runtime.z_stream", r.Runtime.ZStream, ZTorch},
			}
			switch wantKind {
			case MeZO:
				// The plain MeZO step is SGD at a constant rate whatever
				// --optimizer and --lr_scheduler_type say.
				checks = append(checks, check{"optim.name", r.Optim.Name, SGD},
					check{"optim.schedule", r.Optim.Schedule, ScheduleConstant})
			case FT:
				want := Optimizer(tr.Optimizer)
				if want == "adam" {
					want = AdamW
				}
				checks = append(checks, check{"optim.name", r.Optim.Name, want},
					check{"optim.schedule", r.Optim.Schedule, Schedule(tr.Scheduler)})
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %v, args.json says %v", c.what, c.got, c.want)
				}
			}
			if !strings.HasSuffix(r.Task.DataDir, filepath.FromSlash(a.DataDir)) {
				t.Errorf("task.data_dir %s is not args.json's %s", r.Task.DataDir, a.DataDir)
			}
			if err := r.CheckPaths(); err != nil {
				t.Errorf("paths not resolved: %v", err)
			}
			if _, err := os.Stat(filepath.Join(r.Model.Path, "config.json")); err != nil {
				t.Errorf("model.path: %v", err)
			}
			if filepath.Base(r.Model.InitState) != "initial.safetensors" {
				t.Errorf("model.init_state = %q", r.Model.InitState)
			}
		})
	}
}

// TestFromReferenceArgsSetA pins the values of the shared set's runs as its
// README states them.
func TestFromReferenceArgsSetA(t *testing.T) {
	set := testenv.SharedPath(t, "fixtures", "mezo-reference-run")
	load := func(run string) *Recipe {
		r, err := FromReferenceArgs(filepath.Join(set, run, "args.json"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mezo, fwd, ft, zs := load("mezo"), load("mezo-fwd"), load("ft"), load("zero-shot")
	for _, r := range []*Recipe{mezo, fwd} {
		if r.Method.Kind != MeZO || r.Optim.LR != 2e-3 || r.Method.Eps != 1e-3 || r.Optim.BatchSize != 16 ||
			r.Optim.MaxSteps != 40 || r.Eval.Steps != 10 || r.Eval.LoggingSteps != 5 || r.Eval.BatchSize != 4 ||
			r.Optim.Seed != 42 || r.Task.Name != "SST-2" || !r.Eval.DuringTraining || !r.Method.Efficient ||
			r.Method.TrainerOptim || r.Optim.WeightDecay != 0 {
			t.Errorf("%s: %+v", r.Name, *r)
		}
	}
	if mezo.Optim.MaxZOForwardSteps != 0 || fwd.Optim.MaxZOForwardSteps != 50 {
		t.Errorf("max_zo_forward_steps %d, %d; want 0, 50", mezo.Optim.MaxZOForwardSteps, fwd.Optim.MaxZOForwardSteps)
	}
	if ft.Method.Kind != FT || ft.Optim.Name != AdamW || ft.Optim.Schedule != ScheduleLinear || ft.Optim.LR != 1e-3 ||
		ft.Optim.BatchSize != 8 || ft.Optim.MaxSteps != 20 || ft.Eval.Steps != 5 || ft.Optim.MaxGradNorm != 1 ||
		ft.Optim.WarmupSteps != 0 || !ft.Model.TrainDropout {
		t.Errorf("ft: %+v", *ft)
	}
	if zs.Method.Kind != ZeroShot || !zs.Eval.DoEval || !zs.Eval.DoPredict {
		t.Errorf("zero-shot: %+v", *zs)
	}
	if mezo.Task.Template != "*cls**sent_0*_It_was*mask*.*sep+*" || mezo.Task.Mapping != "{'0':'terrible','1':'great'}" {
		t.Errorf("template %q mapping %q", mezo.Task.Template, mezo.Task.Mapping)
	}
	if want := filepath.Join(set, "model"); mezo.Model.Path != want {
		t.Errorf("model.path %s, want %s", mezo.Model.Path, want)
	}
	if want := testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13"); mezo.Task.DataDir != want {
		t.Errorf("task.data_dir %s, want %s", mezo.Task.DataDir, want)
	}
}

// TestFromReferenceArgsLinearProbing: the linear-probing runs of
// mezo-reference-peft become lp recipes, and --from_linearhead becomes
// method.from_linearhead only where the reference probed (its README's
// quirk 1: with a local model directory the flag is a no-op).
func TestFromReferenceArgsLinearProbing(t *testing.T) {
	for _, c := range []struct {
		run        string
		kind       Kind
		flh, early bool
		head       Head
	}{
		{"lp", LP, false, false, HeadPrompt},
		{"lp-early", LP, false, true, HeadPrompt},
		{"lp-finetune-flh", LP, false, false, HeadClassification},
		{"lp-mezo", MeZO, true, false, HeadPrompt},
		{"lp-mezo-localdir", MeZO, false, false, HeadPrompt},
	} {
		r, err := FromReferenceArgs(testenv.SharedPath(t, "fixtures", "mezo-reference-peft", c.run, "args.json"))
		if err != nil {
			t.Errorf("%s: %v", c.run, err)
			continue
		}
		if r.Method.Kind != c.kind || r.Method.FromLinearHead != c.flh || r.Method.LPEarlyStopping != c.early || r.Model.Head != c.head {
			t.Errorf("%s: kind %s, from_linearhead %v, lp_early_stopping %v, head %s; want %s, %v, %v, %s", c.run, r.Method.Kind,
				r.Method.FromLinearHead, r.Method.LPEarlyStopping, r.Model.Head, c.kind, c.flh, c.early, c.head)
		}
	}
}

func TestFromReferenceArgsRejectsWhatRecipesCannotSay(t *testing.T) {
	for run, want := range map[string]string{
		"lora-mezo": "apply_lora: true: LoRA is not expressible in a recipe yet",
	} {
		_, err := FromReferenceArgs(testenv.SharedPath(t, "fixtures", "mezo-reference-peft", run, "args.json"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", run, err, want)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "args.json")
	if err := os.WriteFile(p, []byte(`{"parsed_training_args": {"learning_rate": "fast", "seed": 1.5}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FromReferenceArgs(p)
	wantErrors(t, err, p+": learning_rate: expected a number, got fast", p+": seed: expected an integer, got 1.5")
}
