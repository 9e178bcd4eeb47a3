package recipe

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// recipeFiles lists every YAML file under recipes/.
func recipeFiles(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..", "recipes")
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRecipesValidate loads every recipe under recipes/ with a model and a
// data directory given, as a user would.
func TestRecipesValidate(t *testing.T) {
	files := recipeFiles(t)
	if len(files) == 0 {
		t.Fatal("no recipes under recipes/")
	}
	for _, f := range files {
		if filepath.Base(f) == "quickstart.yaml" {
			continue // names its model and data: TestQuickstartRecipe
		}
		if filepath.Base(filepath.Dir(f)) == "opt" {
			continue // they name their model: TestOPTRecipes
		}
		r, err := Load(f, "model.path=roberta-large", "task.data_dir=data/k-shot-1k-test/x/16-42")
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if r.Name != strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)) {
			t.Errorf("%s: name %q is not the file's", f, r.Name)
		}
		// Without them, both are reported.
		_, err = Load(f)
		var paths []string
		for _, p := range Problems(err) {
			paths = append(paths, p.Path)
		}
		if !slices.Equal(paths, []string{"model.path", "task.data_dir"}) {
			t.Errorf("%s without model.path and task.data_dir: %v", f, err)
		}
	}
}

// TestPaperRecipes checks that recipes/paper has one file per method, task
// and k, each holding the paper's settings (MEZO_SPEC §8).
func TestPaperRecipes(t *testing.T) {
	dir := filepath.Join("..", "..", "recipes", "paper")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range []string{"mezo", "ft", "zero-shot", "mezo-lora", "mezo-prefix", "ft-lora", "ft-prefix", "lp", "lp-mezo"} {
		for _, task := range []string{"SST-2", "sst-5", "SNLI", "MNLI", "RTE", "trec"} {
			for _, k := range []int{16, 512} {
				want[fmt.Sprintf("%s-%s-k%d.yaml", m, task, k)] = true
			}
		}
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("unexpected file recipes/paper/%s", e.Name())
		}
	}
	for name := range want {
		f := filepath.Join(dir, name)
		r, err := Load(f, "model.path=roberta-large", "task.data_dir=d")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		method := string(r.Method.Kind)
		if r.PEFT.Kind != PEFTNone {
			method += "-" + string(r.PEFT.Kind)
		}
		if r.Method.FromLinearHead {
			method = "lp-" + method
		}
		if got := fmt.Sprintf("%s-%s-k%d.yaml", method, r.Task.Name, r.Task.NumK); got != name {
			t.Errorf("%s holds %s", name, got)
		}
		if r.Reference || r.Model.DType != Float32 || r.Task.FewShotType != "prompt" || r.Eval.BatchSize != 4 ||
			!r.Eval.DoEval || !r.Eval.DoPredict {
			t.Errorf("%s: %+v", name, *r)
		}
		o := r.Optim
		switch {
		case r.PEFT.Kind != PEFTNone:
			checkPEFTRecipe(t, name, r)
		case r.Method.Kind == LP:
			// finetune.sh with TRAINER=linearhead: its batch orders the
			// feature rows; the reference requires no evaluation during
			// training (MEZO_SPEC §6).
			if o.BatchSize != 8 || r.Method.LPEarlyStopping || r.Eval.DuringTraining {
				t.Errorf("%s: not §6's linear probing: %+v %+v %+v", name, r.Method, o, r.Eval)
			}
		case r.Method.Kind == MeZO:
			if o.BatchSize != 64 || o.LR != 1e-6 || r.Method.Eps != 1e-3 || o.WeightDecay != 0 || o.MaxSteps != 100000 ||
				r.Eval.Steps != 10000 || o.Name != SGD || o.Schedule != ScheduleConstant || r.Method.TrainerOptim ||
				!r.Eval.DuringTraining {
				t.Errorf("%s: not §8's MeZO: %+v %+v %+v", name, r.Method, o, r.Eval)
			}
		case r.Method.Kind == FT:
			if o.BatchSize != 8 || o.LR != 1e-5 || o.MaxSteps != 1000 || r.Eval.Steps != 100 || o.Name != AdamW ||
				o.Schedule != ScheduleLinear || o.WarmupSteps != 0 || o.MaxGradNorm != 1 || !r.Model.TrainDropout {
				t.Errorf("%s: not §8's FT: %+v %+v", name, o, r.Eval)
			}
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "MEZO_SPEC §") {
			t.Errorf("%s does not say where its numbers come from", name)
		}
	}
}

// checkPEFTRecipe checks a LoRA or prefix paper recipe against the README's
// commands (MEZO_SPEC §8.1), which lie inside the paper's grids (§8.2).
func checkPEFTRecipe(t *testing.T, name string, r *Recipe) {
	t.Helper()
	o, p := r.Optim, r.PEFT
	lr := map[string]float64{"mezo-lora": 1e-4, "mezo-prefix": 1e-2, "ft-lora": 1e-4, "ft-prefix": 1e-2}[string(r.Method.Kind)+"-"+string(p.Kind)]
	if o.LR != lr || o.WeightDecay != 0 || p.LoRAOnly {
		t.Errorf("%s: lr %v weight decay %v lora_only %v", name, o.LR, o.WeightDecay, p.LoRAOnly)
	}
	switch p.Kind {
	case PEFTLoRA:
		if p.LoRAR != 8 || p.LoRAAlpha != 16 {
			t.Errorf("%s: LoRA (%d, %v), want (8, 16)", name, p.LoRAR, p.LoRAAlpha)
		}
	case PEFTPrefix:
		if p.NumPrefix != 5 || !p.PrefixInitByRealAct || p.PrefixReparam {
			t.Errorf("%s: prefix %+v, want 5 real-activation prefixes without the MLP", name, p)
		}
	}
	switch r.Method.Kind {
	case MeZO:
		eps := map[PEFTKind]float64{PEFTLoRA: 1e-3, PEFTPrefix: 1e-1}[p.Kind]
		if o.BatchSize != 64 || r.Method.Eps != eps || o.MaxSteps != 100000 || r.Eval.Steps != 10000 || o.Name != SGD ||
			o.Schedule != ScheduleConstant || !r.Eval.DuringTraining {
			t.Errorf("%s: not §8's MeZO (%s): %+v %+v %+v", name, p.Kind, r.Method, o, r.Eval)
		}
	case FT:
		if o.BatchSize != 8 || o.MaxSteps != 1000 || r.Eval.Steps != 100 || o.Name != AdamW || o.Schedule != ScheduleLinear ||
			o.MaxGradNorm != 1 || !r.Model.TrainDropout {
			t.Errorf("%s: not §8's FT (%s): %+v %+v", name, p.Kind, o, r.Eval)
		}
	default:
		t.Errorf("%s: %s with %s", name, p.Kind, r.Method.Kind)
	}
}

// TestQuickstartRecipe: the README's main job validates as it is, pre-trains
// its own model with the defaults, evaluates dev at step 0 and reads the
// committed task.
func TestQuickstartRecipe(t *testing.T) {
	r, err := Load(filepath.Join("..", "..", "recipes", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPretrain
	want.Preset = "tiny"
	if r.Model.Path != "" || r.Model.Pretrain != want {
		t.Errorf("model: path %q, pretrain %+v; want no path and %+v", r.Model.Path, r.Model.Pretrain, want)
	}
	if !r.Eval.AtStart || r.Method.Kind != MeZO || r.Task.DataDir != "recipes/quickstart/data" {
		t.Errorf("eval.at_start %v, method %s, data %s", r.Eval.AtStart, r.Method.Kind, r.Task.DataDir)
	}
	if _, err := Load(filepath.Join("..", "..", "recipes", "quickstart.yaml"), "model.path=roberta-large"); err == nil {
		t.Error("model.path beside model.pretrain.preset was accepted")
	}
}
