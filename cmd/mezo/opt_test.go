package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/opt"
)

// tinyOPTDir writes a random tiny OPT (OPTForCausalLM, float32) into a
// temporary model directory with the GPT-2 BPE tokenizer files of the run
// fixture (OPT's tokenizer is GPT-2's byte-level BPE; the vocabulary is
// RoBERTa's 50265 entries, which the model's embedding matches), as
// `mezo run` reads a Hugging Face OPT directory.
func tinyOPTDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	c := &hf.Config{ModelType: "opt", Architectures: []string{"OPTForCausalLM"}, VocabSize: 50265, HiddenSize: 16,
		NumHiddenLayers: 2, NumAttentionHeads: 4, FFNDim: 32, MaxPositionEmbeddings: 64, WordEmbedProjDim: 16,
		PadTokenID: 1, BOSTokenID: 2, EOSTokenID: 2, DoLayerNormBefore: true, LayerNormElementwiseAffine: true,
		EnableBias: true, TieWordEmbeddings: true, ActivationFunction: "relu", InitStd: 0.2, Dropout: 0.1}
	m, err := opt.New(c, opt.Options{DType: torch.Float32, InitSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Save(filepath.Join(dir, "model.safetensors"), nil); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.json", "merges.txt"} {
		b, err := os.ReadFile(testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sst2Data writes a learnable SST2 task as Hugging Face datasets' JSON
// lines (train.jsonl, validation.jsonl): short sentences of filler words
// around one cue word, positive or negative, which decides the label.
func sst2Data(t *testing.T, train, valid int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	cues := [2][]string{{"bad", "awful", "boring", "dull", "poor"}, {"good", "great", "lovely", "fun", "nice"}}
	filler := []string{"the", "movie", "film", "story", "plot", "was", "a", "very", "really", "and", "this", "it"}
	write := func(name string, n int) {
		var b strings.Builder
		for i := 0; i < n; i++ {
			label := rng.Intn(2)
			var words []string
			for j := 0; j < 2+rng.Intn(4); j++ {
				words = append(words, filler[rng.Intn(len(filler))])
			}
			at := rng.Intn(len(words) + 1)
			words = slices.Insert(words, at, cues[label][rng.Intn(5)])
			line, _ := json.Marshal(map[string]any{"sentence": strings.Join(words, " ") + " .", "label": label, "idx": i})
			b.Write(append(line, '\n'))
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("train.jsonl", train)
	write("validation.jsonl", valid)
	return dir
}

// optFixture is a tiny OPT model directory and its SST2 data.
type optFixture struct{ model, data string }

func newOPTFixture(t *testing.T) optFixture {
	t.Helper()
	return optFixture{model: tinyOPTDir(t), data: sst2Data(t, 160, 64)}
}

// recipe writes an OPT recipe of kind into dir and returns its path: lr,
// max_steps steps, dev evaluated four times; extra is YAML appended (a
// section the recipe does not have). The run directory is dir/out.
func (f optFixture) recipe(t *testing.T, dir, kind, lr string, steps int, extra string) string {
	t.Helper()
	y := fmt.Sprintf(`name: opt-%s
model:
  family: opt
  path: %q
task:
  name: SST2
  data_dir: %q
method:
  kind: %s
largemodels:
  num_train: 96
  num_dev: 64
  num_eval: 32
  max_length: 64
optim:
  lr: %s
  batch_size: 16
  max_steps: %d
eval:
  steps: %d
  batch_size: 32
  logging_steps: 10
output:
  dir: %q
  save_best: true
%s`, kind, f.model, f.data, kind, lr, steps, max(1, steps/4), filepath.Join(dir, "out"), extra)
	p := filepath.Join(dir, kind+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// optResult is what the OPT tests read from result.json.
type optResult struct {
	Dev struct {
		Loss float64 `json:"loss"`
		Acc  float64 `json:"acc"`
	} `json:"dev"`
	Test struct {
		Loss float64 `json:"loss"`
		Acc  float64 `json:"acc"`
	} `json:"test"`
	GlobalStep int    `json:"global_step"`
	Forwards   int    `json:"forward_passes"`
	StoppedBy  string `json:"stopped_by"`
	BestStep   *int   `json:"best_step"`
}

// best is the best dev step, -1 for none.
func (r optResult) best() int {
	if r.BestStep == nil {
		return -1
	}
	return *r.BestStep
}

// runOPT runs a recipe with sets and returns its result.json.
func runOPT(t *testing.T, path string, sets ...string) optResult {
	t.Helper()
	args := []string{"run", path, "--quiet", "--overwrite"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := mezoRun(t, args...)
	if err != nil {
		t.Fatalf("mezo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	dir := filepath.Join(filepath.Dir(path), "out")
	for _, s := range sets {
		if d, ok := strings.CutPrefix(s, "output.dir="); ok {
			dir = d
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r optResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// optMargin is how far (nats) a run must lower the dev loss of the
// initial model (a zero-shot run of the same recipe) to count as learning.
const optMargin = 0.1

// TestRunOPTMeZOLearns: `mezo run` with MeZO on a tiny random OPT on the
// CPU lowers the dev classification loss of a learnable SST2 task by a
// margin (the best dev model, reloaded for the final evaluation, against a
// zero-shot run's), and the same run at lr 0 leaves it where it was.
func TestRunOPTMeZOLearns(t *testing.T) {
	f := newOPTFixture(t)
	dir := t.TempDir()
	rec := f.recipe(t, dir, "mezo", "2e-3", 400, "")
	zero := runOPT(t, rec, "method.kind=zero-shot", "output.dir="+filepath.Join(dir, "zero"))
	still := runOPT(t, rec, "optim.lr=0", "optim.max_steps=40", "output.dir="+filepath.Join(dir, "still"))
	got := runOPT(t, rec)
	t.Logf("dev loss: initial %.4f (acc %.3f), lr 0 %.4f, MeZO %.4f (acc %.3f, best step %d, %d steps, %d forwards)",
		zero.Dev.Loss, zero.Dev.Acc, still.Dev.Loss, got.Dev.Loss, got.Dev.Acc, got.best(), got.GlobalStep, got.Forwards)
	if d := still.Dev.Loss - zero.Dev.Loss; d > 1e-4 || d < -1e-4 {
		t.Errorf("control: at lr 0 the dev loss moved from %.6f to %.6f", zero.Dev.Loss, still.Dev.Loss)
	}
	if got.Dev.Loss > zero.Dev.Loss-optMargin {
		t.Errorf("MeZO lowered the dev loss from %.4f only to %.4f (want at least %.2f lower)", zero.Dev.Loss, got.Dev.Loss, optMargin)
	}
	if got.GlobalStep != 400 || got.Forwards != 800 || got.StoppedBy != "max_steps" {
		t.Errorf("budget: %d steps, %d forwards, stopped by %q; want 400, 800, max_steps", got.GlobalStep, got.Forwards, got.StoppedBy)
	}
}

// TestRunOPTFineTuneLearns: fine-tuning (dropout on, backward through the
// candidate loss, AdamW) lowers the dev loss by the same margin.
func TestRunOPTFineTuneLearns(t *testing.T) {
	f := newOPTFixture(t)
	dir := t.TempDir()
	rec := f.recipe(t, dir, "ft", "3e-3", 150, "")
	zero := runOPT(t, rec, "method.kind=zero-shot", "output.dir="+filepath.Join(dir, "zero"))
	got := runOPT(t, rec)
	t.Logf("dev loss: initial %.4f (acc %.3f), FT %.4f (acc %.3f, best step %d)", zero.Dev.Loss, zero.Dev.Acc, got.Dev.Loss, got.Dev.Acc, got.best())
	if got.Dev.Loss > zero.Dev.Loss-optMargin {
		t.Errorf("fine-tuning lowered the dev loss from %.4f only to %.4f (want at least %.2f lower)", zero.Dev.Loss, got.Dev.Loss, optMargin)
	}
}

// optDryRun runs `mezo run --dry-run` on an OPT recipe with sets and
// returns the trainable tensors it lists.
func optDryRun(t *testing.T, f optFixture, kind string, sets ...string) []string {
	t.Helper()
	rec := f.recipe(t, t.TempDir(), kind, "1e-3", 10, "")
	args := append([]string{"run", rec, "--dry-run"}, setArgs(sets)...)
	out, names := dryRunList(t, sets, args...)
	if !strings.Contains(out, "data       SST2") || !strings.Contains(out, "train 96, dev 64, test 32") {
		t.Errorf("%v: the dry run does not describe the data:\n%s", sets, out)
	}
	return names
}

// TestRunOPTDryRunTrainable: --dry-run lists the trainable tensors of full
// MeZO (every parameter, named_parameters() order: the tied LM head once,
// as the embedding), LoRA (v_proj and q_proj's A and B alone, as
// large_models freezes everything else) and prefix tuning (the prefixes).
func TestRunOPTDryRunTrainable(t *testing.T) {
	f := newOPTFixture(t)
	var full []string
	// HF's OPTDecoder order: the final LayerNorm before the layers, k_proj
	// v_proj q_proj.
	full = append(full, "model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight",
		"model.decoder.final_layer_norm.weight", "model.decoder.final_layer_norm.bias")
	var lora, prefix []string
	for _, l := range []string{"0", "1"} {
		p := "model.decoder.layers." + l + "."
		for _, n := range []string{"self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj"} {
			full = append(full, p+n+".weight", p+n+".bias")
		}
		full = append(full, p+"self_attn_layer_norm.weight", p+"self_attn_layer_norm.bias", p+"fc1.weight", p+"fc1.bias",
			p+"fc2.weight", p+"fc2.bias", p+"final_layer_norm.weight", p+"final_layer_norm.bias")
		for _, n := range []string{"v_proj", "q_proj"} {
			lora = append(lora, p+"self_attn."+n+".lora_A", p+"self_attn."+n+".lora_B")
		}
		prefix = append(prefix, p+"self_attn.prefix_keys", p+"self_attn.prefix_values")
	}
	for _, c := range []struct {
		name, kind string
		sets       []string
		want       []string
	}{
		{"mezo-full", "mezo", nil, full},
		{"ft-full", "ft", nil, full},
		{"mezo-lora", "mezo", []string{"peft.kind=lora"}, lora},
		{"mezo-prefix", "mezo", []string{"peft.kind=prefix"}, prefix},
		{"ft-lora", "ft", []string{"peft.kind=lora"}, lora},
	} {
		got := optDryRun(t, f, c.kind, c.sets...)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: trainable\n  %v\nwant\n  %v", c.name, got, c.want)
		}
	}
}

// TestRunOPTFamilyMismatch: a recipe whose model.family disagrees with the
// model directory's config.json is refused, naming the field and the
// model's type, before anything is loaded.
func TestRunOPTFamilyMismatch(t *testing.T) {
	f := newOPTFixture(t)
	dir := t.TempDir()
	rec := f.recipe(t, dir, "mezo", "1e-3", 10, "")
	roberta := testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model")
	for _, c := range []struct {
		sets []string
		want []string
	}{
		// An OPT recipe on a RoBERTa directory.
		{[]string{"model.path=" + roberta}, []string{"model.family", `"roberta" model`, "model_type"}},
	} {
		out, err := mezoRun(t, append([]string{"run", rec, "--dry-run"}, setArgs(c.sets)...)...)
		if err == nil {
			t.Fatalf("%v: accepted:\n%s", c.sets, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out+err.Error(), w) {
				t.Errorf("%v: error does not mention %q:\n%v\n%s", c.sets, w, err, out)
			}
		}
	}
	// A RoBERTa recipe (the default family) on the OPT directory.
	y := fmt.Sprintf("model:\n  path: %q\ntask:\n  name: SST-2\n  data_dir: %q\nmethod:\n  kind: mezo\n", f.model,
		testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13"))
	p := filepath.Join(dir, "roberta.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := mezoRun(t, "run", p, "--dry-run")
	if err == nil {
		t.Fatalf("a roberta recipe on an OPT model was accepted:\n%s", out)
	}
	for _, w := range []string{"model.family", "roberta", `"opt" model`, "model.family: opt"} {
		if !strings.Contains(out+err.Error(), w) {
			t.Errorf("roberta recipe on OPT: error does not mention %q:\n%v\n%s", w, err, out)
		}
	}
}

func setArgs(sets []string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, "--set", s)
	}
	return out
}

// TestResumeOPT: an OPT run stopped at a checkpoint (its budget reached
// mid-epoch) and continued with --resume and a larger budget equals the
// run that had the larger budget from the start: metrics.jsonl, result.json
// and the best model, for MeZO (full and LoRA) and fine-tuning (AdamW's
// moments in the checkpoint; a constant schedule, so that the budget does
// not change the learning rates).
func TestResumeOPT(t *testing.T) {
	f := newOPTFixture(t)
	for _, c := range []struct {
		name, kind, lr string
		sets           []string
	}{
		{"mezo", "mezo", "2e-3", nil},
		{"mezo-lora", "mezo", "1e-2", []string{"peft.kind=lora"}},
		{"ft", "ft", "1e-3", []string{"optim.schedule=constant", "model.train_dropout=false"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := f.recipe(t, dir, c.kind, c.lr, 16, "")
			full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
			base := append([]string{"output.checkpoint_every=4", "eval.logging_steps=1"}, c.sets...)
			runOPT(t, rec, append(slices.Clone(base), "output.dir="+full)...)
			runOPT(t, rec, append(slices.Clone(base), "output.dir="+cut, "optim.max_steps=10")...)
			args := append([]string{"run", rec, "--resume", "--quiet"}, setArgs(append(slices.Clone(base), "output.dir="+cut))...)
			if out, err := mezoRun(t, args...); err != nil {
				t.Fatalf("resume: %v\n%s", err, out)
			}
			sameRun(t, full, cut)
		})
	}
}

// TestRunOPTZOPaths: the trainer-optimizer ZO paths run on OPT with their
// forward counts (n-SPSA's n pairs a step, stored z, ZO-Adam, clipping,
// gradient accumulation), prefix tuning trains, and the forward budget
// stops a run.
func TestRunOPTZOPaths(t *testing.T) {
	f := newOPTFixture(t)
	for _, c := range []struct {
		name           string
		sets           []string
		steps, forward int
		stoppedBy      string
	}{
		{"n-spsa", []string{"method.trainer_optim=true", "method.samples=2", "method.sample_schedule=constant"}, 8, 32, "max_steps"},
		{"stored-z", []string{"method.efficient=false"}, 8, 16, "max_steps"},
		{"zo-adam", []string{"method.trainer_optim=true", "optim.name=adamw", "optim.lr=1e-3", "method.clip_grad=true"}, 8, 16, "max_steps"},
		{"accumulation", []string{"method.trainer_optim=true", "optim.gradient_accumulation_steps=2"}, 8, 32, "max_steps"},
		{"prefix", []string{"peft.kind=prefix", "optim.lr=1e-2", "method.eps=1e-1"}, 8, 16, "max_steps"},
		{"forward-budget", []string{"optim.max_zo_forward_steps=10"}, 5, 10, "max_zo_forward_steps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := f.recipe(t, dir, "mezo", "1e-4", 8, "")
			got := runOPT(t, rec, c.sets...)
			if got.GlobalStep != c.steps || got.Forwards != c.forward || got.StoppedBy != c.stoppedBy {
				t.Errorf("%d steps, %d forwards, stopped by %q; want %d, %d, %s", got.GlobalStep, got.Forwards, got.StoppedBy, c.steps, c.forward, c.stoppedBy)
			}
			if got.Dev.Loss <= 0 || got.Test.Acc < 0 {
				t.Errorf("dev loss %v, test accuracy %v", got.Dev.Loss, got.Test.Acc)
			}
		})
	}
}

// TestEvalOPTRun: `mezo eval` on a finished OPT run reloads its best model
// (best.safetensors as model.init_state) and reproduces the run's final
// test evaluation.
func TestEvalOPTRun(t *testing.T) {
	f := newOPTFixture(t)
	dir := t.TempDir()
	rec := f.recipe(t, dir, "mezo", "2e-3", 40, "")
	got := runOPT(t, rec)
	out, err := mezoRun(t, "eval", filepath.Join(dir, "out"), "--split", "test")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var ev struct {
		Loss float64 `json:"loss"`
		Acc  float64 `json:"acc"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &ev); err != nil {
		t.Fatalf("eval output %q: %v", out, err)
	}
	if ev.Acc != got.Test.Acc || ev.Loss != got.Test.Loss {
		t.Errorf("mezo eval: test loss %v, acc %v; the run's final test: %v, %v", ev.Loss, ev.Acc, got.Test.Loss, got.Test.Acc)
	}
}

// optTaskRecord is a JSON-lines record of task (Hugging Face datasets'
// fields) whose label is label.
func optTaskRecord(task string, i, label int) map[string]any {
	s := func(what string) string { return fmt.Sprintf("%s %d of example %d", what, i%7, i) }
	switch task {
	case "SST2":
		return map[string]any{"sentence": s("a sentence"), "label": label}
	case "RTE", "CB":
		return map[string]any{"premise": s("a premise"), "hypothesis": s("a hypothesis"), "label": label}
	case "BoolQ":
		return map[string]any{"passage": s("a passage"), "question": s("is it a question"), "answer": label == 0}
	case "WIC":
		return map[string]any{"sentence1": s("one sentence"), "sentence2": s("another sentence"), "word": "sentence", "label": label}
	case "WSC":
		return map[string]any{"text": s("Anna met Bob and she smiled"), "span1_text": "Anna", "span2_text": "she", "label": label}
	case "MultiRC":
		return map[string]any{"paragraph": s("a paragraph"), "question": s("a question"), "answer": s("an answer"), "label": label}
	case "Copa":
		return map[string]any{"premise": s("The man fell."), "question": []string{"cause", "effect"}[i%2], "choice1": s("He slipped"),
			"choice2": s("He laughed"), "label": label}
	}
	return nil
}

// TestRunOPTRecipesDryRun: every recipe in recipes/opt dry-runs on the tiny
// OPT (on the CPU, in float32) with a small generated split of its task:
// the recipe, its task's prompts and the session build, short of training.
func TestRunOPTRecipesDryRun(t *testing.T) {
	model := tinyOPTDir(t)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "recipes", "opt", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recipes under recipes/opt (%v)", err)
	}
	tmp := t.TempDir()
	data := map[string]string{}
	for _, file := range files {
		base := strings.TrimSuffix(filepath.Base(file), ".yaml")
		task := base[strings.LastIndex(base, "-")+1:]
		if data[task] == "" {
			data[task] = filepath.Join(tmp, task)
			if err := os.MkdirAll(data[task], 0o755); err != nil {
				t.Fatal(err)
			}
			classes := map[string]int{"CB": 3}[task]
			for _, split := range []string{"train", "validation"} {
				var b strings.Builder
				for i := 0; i < 12; i++ {
					line, _ := json.Marshal(optTaskRecord(task, i, i%max(2, classes)))
					b.Write(append(line, '\n'))
				}
				if err := os.WriteFile(filepath.Join(data[task], split+".jsonl"), []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		out := filepath.Join(tmp, "runs", base)
		stdout, err := mezoRun(t, append([]string{"run", file, "--dry-run"}, setArgs([]string{"model.path=" + model, "task.data_dir=" + data[task],
			"output.dir=" + out, "runtime.device=cpu", "model.dtype=float32", "largemodels.num_train=8", "largemodels.num_dev=4",
			"largemodels.num_eval=4"})...)...)
		if err != nil {
			t.Errorf("%s: %v\n%s", base, err, stdout)
			continue
		}
		for _, w := range []string{"# resolved recipe\nname: " + base + "\n", "\ndata       " + task + " (", "train 8, dev 4, test 4", " trainable of "} {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: dry run lacks %q:\n%s", base, w, stdout)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: --dry-run created %s", base, out)
		}
	}
	t.Logf("dry-ran %d OPT recipes", len(files))
}
