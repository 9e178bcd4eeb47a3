package recipe

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// optSizes and optTasks are recipes/opt's grid: every OPT size MeZO's
// large_models trains, and every large_models task with prompts here.
var (
	optSizes = []string{"125m", "350m", "1.3b", "2.7b", "6.7b", "13b"}
	optTasks = []string{"SST2", "RTE", "CB", "BoolQ", "WIC", "WSC", "MultiRC", "Copa"}
)

// TestOPTRecipes: recipes/opt holds full MeZO for every (size, task), MeZO
// with prefix and LoRA for every task at 13b (the paper's OPT-13B table)
// and FT on SST2 for every size; each loads and validates with only the data
// directory given, and holds large_models' settings (mezo.sh, finetune.sh;
// MEZO_SPEC §11).
func TestOPTRecipes(t *testing.T) {
	dir := filepath.Join("..", "..", "recipes", "opt")
	want := map[string]bool{}
	for _, size := range optSizes {
		for _, task := range optTasks {
			want[fmt.Sprintf("mezo-opt-%s-%s.yaml", size, task)] = true
			if size == "13b" {
				want[fmt.Sprintf("mezo-prefix-opt-%s-%s.yaml", size, task)] = true
				want[fmt.Sprintf("mezo-lora-opt-%s-%s.yaml", size, task)] = true
			}
		}
		want[fmt.Sprintf("ft-opt-%s-SST2.yaml", size)] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "README.md" && !want[e.Name()] {
			t.Errorf("unexpected file recipes/opt/%s", e.Name())
		}
	}
	if len(want) != 70 {
		t.Fatalf("the grid has %d recipes, want 70", len(want))
	}
	for name := range want {
		f := filepath.Join(dir, name)
		r, err := Load(f, "task.data_dir=data/largemodels/x")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := Load(f); len(Problems(err)) != 1 || Problems(err)[0].Path != "task.data_dir" {
			t.Errorf("%s without task.data_dir: %v", name, err)
		}
		method := string(r.Method.Kind)
		if r.PEFT.Kind != PEFTNone {
			method += "-" + string(r.PEFT.Kind)
		}
		if got := fmt.Sprintf("%s-%s-%s.yaml", method, strings.TrimPrefix(r.Model.Path, "facebook/"), r.Task.Name); got != name || r.Name+".yaml" != name {
			t.Errorf("%s holds %s (name %s)", name, got, r.Name)
		}
		lm, o, e := r.LargeModels, r.Optim, r.Eval
		dev, loss := 500, LMLossClassification
		if r.Task.Name == "CB" || r.Task.Name == "Copa" {
			dev = 100
		}
		if r.Task.Name == "Copa" {
			loss = LMLossOption
		}
		if r.Model.Family != FamilyOPT || lm.NumTrain != 1000 || lm.NumDev != dev || lm.NumEval != 1000 || lm.TrainSetSeed != 0 ||
			lm.Loss != loss || lm.Score != LMScoreMean || lm.MaxLength != 2048 || lm.BOS != "large_models" || o.WeightDecay != 0 ||
			!e.DuringTraining || !e.DoEval || !e.DoPredict || !r.Output.SaveBest || r.Runtime.Device != "cuda" {
			t.Errorf("%s: not large_models' data and selection settings: %+v %+v %+v", name, lm, e, r.Output)
		}
		switch r.Method.Kind {
		case MeZO:
			// The README's commands: LR and EPS per mode.
			le := map[PEFTKind][2]float64{PEFTNone: {1e-7, 1e-3}, PEFTPrefix: {1e-3, 1e-1}, PEFTLoRA: {5e-5, 1e-2}}[r.PEFT.Kind]
			lr, eps := le[0], le[1]
			if r.Model.DType != Float16 || o.BatchSize != 16 || o.MaxSteps != 20000 || e.Steps != 4000 || r.Output.CheckpointEvery != 4000 ||
				o.Name != SGD || o.Schedule != ScheduleConstant || o.LR != lr || r.Method.Eps != eps || !r.Method.Efficient || r.Method.TrainerOptim {
				t.Errorf("%s: not mezo.sh's: %+v %+v %+v", name, r.Method, o, e)
			}
			if p := r.PEFT; p.Kind == PEFTPrefix && (p.NumPrefix != 5 || !p.PrefixInitByRealAct || p.PrefixReparam) ||
				p.Kind == PEFTLoRA && (p.LoRAR != 8 || p.LoRAAlpha != 16) {
				t.Errorf("%s: adapters %+v", name, p)
			}
		case FT:
			if r.Model.DType != Float32 || o.BatchSize != 8 || o.MaxSteps != 0 || o.Epochs != 5 || o.LR != 1e-5 || o.Name != AdamW ||
				o.Schedule != ScheduleLinear || e.Steps != 125 || r.PEFT.Kind != PEFTNone {
				t.Errorf("%s: not finetune.sh's: %+v %+v", name, o, e)
			}
		default:
			t.Errorf("%s: method %s", name, r.Method.Kind)
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "MEZO_SPEC §11") || !strings.Contains(string(src), "# memory: opt.EstimateMemory gives ") {
			t.Errorf("%s does not say where its numbers come from or its memory estimate", name)
		}
	}
}
