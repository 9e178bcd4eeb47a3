package train_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/model/opt"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// optTaskShape is the prompt+option length and the longest option (tokens)
// that recipes/opt's memory figures assume per task: about the longest
// prompts of each task with OPT's tokenizer, rounded up to large_models'
// padding multiple (the figures are estimates, not bounds).
var optTaskShape = map[string][2]int{
	"SST2": {64, 1}, "RTE": {128, 1}, "CB": {128, 1}, "BoolQ": {256, 1}, "WIC": {64, 1}, "WSC": {128, 1},
	"MultiRC": {512, 1}, "Copa": {32, 8},
}

// optCandidates is each task's candidates per example.
var optCandidates = map[string]int{"SST2": 2, "RTE": 2, "CB": 3, "BoolQ": 2, "WIC": 2, "WSC": 2, "MultiRC": 2, "Copa": 2}

// optMemoryLine is the comment a recipes/opt recipe carries: what
// opt.EstimateMemory gives for its model, dtype, method and training batch.
func optMemoryLine(t *testing.T, r *recipe.Recipe) string {
	t.Helper()
	size, err := opt.LookupSize(r.Model.Path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := opt.ConfigFrom(size.HFConfig())
	if err != nil {
		t.Fatal(err)
	}
	dt, err := torch.ParseDType(string(r.Model.DType))
	if err != nil {
		t.Fatal(err)
	}
	shape, ok := optTaskShape[r.Task.Name]
	if !ok {
		t.Fatalf("%s: no length assumed for task %s", r.Name, r.Task.Name)
	}
	per := optCandidates[r.Task.Name]
	if r.LargeModels.Loss == recipe.LMLossOption {
		per = 1 // the gold rows alone
	}
	rows := r.Optim.BatchSize * per
	ft := r.Method.Kind == recipe.FT
	m := opt.EstimateMemory(cfg, dt, rows, shape[0], shape[1], ft)
	const GiB = 1 << 30
	state := ""
	if ft {
		state = fmt.Sprintf(", gradients and AdamW moments %.1f GiB", float64(m.State)/GiB)
	}
	peft := ""
	if r.PEFT.Kind != recipe.PEFTNone {
		peft = " (the adapters add well under 1%)"
	}
	return fmt.Sprintf("# memory: opt.EstimateMemory gives %.1f GiB%s: %s weights %.1f GiB%s, activations %.2f GiB, for %d rows (%d examples × %d) at length %d",
		float64(m.Total())/GiB, peft, r.Model.DType, float64(m.Params)/GiB, state, float64(m.Activations)/GiB, rows, r.Optim.BatchSize, per, shape[0])
}

// TestOPTRecipeMemory: every recipe in recipes/opt carries
// opt.EstimateMemory's figure for its model, dtype, method and batch.
func TestOPTRecipeMemory(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "recipes", "opt", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recipes in recipes/opt (%v)", err)
	}
	for _, f := range files {
		r, err := recipe.Load(f, "task.data_dir=data/largemodels/x")
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := optMemoryLine(t, r)
		if !strings.Contains(string(raw), want+"\n") {
			t.Errorf("%s: no memory line\n%s", f, want)
		}
	}
}
