package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// The tests of `mezo run` and `mezo eval` run the CLI in-process on the tiny
// real-vocabulary RoBERTa of the reference-run fixtures (2 layers, hidden 32)
// and the official SST-2 k=16 split of seed 13 (32 train, 32 dev, 872 test),
// with one libtorch thread and a budget of a few steps.

// runFixture is the model and data every run test uses.
type runFixture struct {
	model, data string
}

func newRunFixture(t *testing.T) runFixture {
	t.Helper()
	f := runFixture{
		model: testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model"),
		data:  testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13"),
	}
	for _, d := range []string{f.model, f.data} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Fatalf("fixture directory %s is missing", d)
		}
	}
	return f
}

// recipe writes a recipe of method kind into dir as name and returns its
// path. The run directory is dir/out; extra is YAML appended at the end of
// the file (a section the recipe does not have yet: runtime).
func (f runFixture) recipe(t *testing.T, dir, name, kind, extra string) string {
	t.Helper()
	y := fmt.Sprintf(`# written by %s
name: %s
method:
  kind: %s
model:
  path: %q
task:
  name: SST-2
  data_dir: %q
optim:
  lr: 1e-3
  batch_size: 8
  max_steps: 4
eval:
  steps: 2
  batch_size: 32
  logging_steps: 1
output:
  dir: %q
  save_best: true
%s`, t.Name(), strings.TrimSuffix(name, ".yaml"), kind, f.model, f.data, filepath.Join(dir, "out"), extra)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mezoRun runs `mezo --threads 1 args...` and returns stdout+stderr.
func mezoRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runApp(t, append([]string{"--threads", "1"}, args...)...)
}

// metricLine is one line of metrics.jsonl, kept as raw fields.
type metricLine map[string]any

func readMetrics(t *testing.T, dir string) []metricLine {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("metrics.jsonl does not end in a newline (%d bytes)", len(data))
	}
	var out []metricLine
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var m metricLine
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("metrics.jsonl:%d is not JSON: %v\n%s", i+1, err, line)
		}
		if dec.More() {
			t.Fatalf("metrics.jsonl:%d holds more than one JSON value: %s", i+1, line)
		}
		out = append(out, m)
	}
	return out
}

// num is a numeric field of a metrics line.
func (m metricLine) num(t *testing.T, key string) float64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("metrics line %v: %q is %T, want a number", m, key, m[key])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkMetricLines checks the fields of every line: train lines carry the
// fields of their method, eval lines the evaluation's.
func checkMetricLines(t *testing.T, lines []metricLine, kind string) (train, eval []metricLine) {
	t.Helper()
	trainKeys := map[string][]string{
		"mezo": {"step", "seed", "loss_plus", "loss_minus", "projected_grad", "lr", "forward_passes", "elapsed_s"},
		"ft":   {"step", "loss", "grad_norm", "lr", "elapsed_s"},
	}[kind]
	for i, m := range lines {
		var keys []string
		switch m["kind"] {
		case "train":
			train = append(train, m)
			keys = trainKeys
		case "eval":
			eval = append(eval, m)
			keys = []string{"step", "loss", "acc", "objective", "correct", "examples"}
			if s := m["split"]; s != "dev" && s != "test" {
				t.Errorf("metrics.jsonl:%d: split %v, want dev or test", i+1, s)
			}
		default:
			t.Errorf("metrics.jsonl:%d: kind %v, want train or eval", i+1, m["kind"])
			continue
		}
		for _, k := range keys {
			if _, ok := m[k].(json.Number); !ok {
				t.Errorf("metrics.jsonl:%d (%s): %q is %v, want a number", i+1, m["kind"], k, m[k])
			}
		}
	}
	return train, eval
}

// runResult is the part of result.json the tests read by value.
type runResult struct {
	Name      string
	Method    string
	BestStep  *int `json:"best_step"`
	Dev, Test *struct {
		Loss      float64
		Acc       float64
		Objective float64
		Correct   int
		Examples  int
	}
	StoppedBy  string `json:"stopped_by"`
	GlobalStep int    `json:"global_step"`
	Forwards   int    `json:"forward_passes"`
	Recipe     map[string]any
	Versions   struct{ Gomezo, Libtorch string }
	Device     string
	PeakMemory int64   `json:"peak_memory_bytes"`
	MedianStep float64 `json:"median_step_s"`
}

// readResult reads result.json, checking that it holds every key of keys.
func readResult(t *testing.T, dir string, keys ...string) runResult {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("result.json is not JSON: %v\n%s", err, data)
	}
	for _, k := range keys {
		if _, ok := raw[k]; !ok {
			t.Errorf("result.json has no %q", k)
		}
	}
	var r runResult
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("result.json: %v", err)
	}
	return r
}

// evalOut is what `mezo eval` prints.
type evalOut struct {
	Split     string
	Loss      float64
	Correct   int
	Examples  int
	Objective float64
	Acc       *float64
}

func runEval(t *testing.T, dir, split string) evalOut {
	t.Helper()
	out, errOut, err := runMezo(t, "", "--threads", "1", "eval", dir, "--split", split)
	if err != nil {
		t.Fatalf("mezo eval %s --split %s: %v\n%s%s", dir, split, err, out, errOut)
	}
	var ev evalOut
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("mezo eval printed no JSON: %v\n%s", err, out)
	}
	if ev.Split != split || ev.Acc == nil || ev.Examples == 0 {
		t.Fatalf("mezo eval --split %s printed %s", split, out)
	}
	return ev
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

// TestRunMeZO: a MeZO recipe end to end into a temp run directory, the
// refusal to overwrite it, --overwrite, and `mezo eval` of the best model.
func TestRunMeZO(t *testing.T) {
	f := newRunFixture(t)
	tmp := t.TempDir()
	rp := f.recipe(t, tmp, "mezo-tiny.yaml", "mezo", "")
	out := filepath.Join(tmp, "out")
	log, err := mezoRun(t, "run", rp)
	if err != nil {
		t.Fatalf("mezo run: %v\n%s", err, log)
	}
	if !strings.Contains(log, "step 0: ℓ+") || !strings.Contains(log, "results in "+filepath.Join(out, "result.json")) {
		t.Errorf("no progress or summary lines:\n%s", log)
	}
	for _, name := range []string{"recipe.yaml", "metrics.jsonl", "result.json", "best.safetensors"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("run directory lacks %s (%v)", name, err)
		}
	}

	// recipe.yaml is the resolved recipe: it loads back to the run's.
	want, err := recipe.Load(rp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := recipe.Load(filepath.Join(out, "recipe.yaml"))
	if err != nil {
		t.Fatalf("recipe.yaml does not load: %v", err)
	}
	if *got != *want {
		t.Errorf("recipe.yaml loads to\n%+v\nwant\n%+v", *got, *want)
	}

	lines := readMetrics(t, out)
	train, eval := checkMetricLines(t, lines, "mezo")
	if len(train) != 4 {
		t.Errorf("%d train lines, want 4 (max_steps 4, logging_steps 1)", len(train))
	}
	for i, m := range train {
		if fw := m.num(t, "forward_passes"); fw != float64(2*(i+1)) {
			t.Errorf("train line %d: forward_passes %v, want %d", i, fw, 2*(i+1))
		}
		if m.num(t, "loss_plus") == m.num(t, "loss_minus") {
			t.Errorf("train line %d: ℓ+ = ℓ− = %v: the perturbation did nothing", i, m["loss_plus"])
		}
		if m.num(t, "lr") != 1e-3 {
			t.Errorf("train line %d: lr %v, want 1e-3", i, m["lr"])
		}
	}
	var devDuring []metricLine
	var finalTest metricLine
	for _, m := range eval {
		switch {
		case m["split"] == "dev" && m["final"] == false:
			devDuring = append(devDuring, m)
		case m["split"] == "test" && m["final"] == true:
			finalTest = m
		}
	}
	if len(devDuring) != 2 || devDuring[0].num(t, "step") != 2 || devDuring[1].num(t, "step") != 4 {
		t.Fatalf("dev evaluations during training: %v, want at steps 2 and 4", devDuring)
	}
	if finalTest == nil {
		t.Fatalf("no final test evaluation in metrics.jsonl")
	}

	res := readResult(t, out, "best_step", "dev", "test", "stopped_by", "global_step", "forward_passes", "recipe",
		"versions", "device", "peak_memory_bytes", "median_step_s")
	if res.Method != "mezo" || res.Name != "mezo-tiny" || res.StoppedBy != "max_steps" || res.GlobalStep != 4 || res.Forwards != 8 {
		t.Errorf("result.json: method %q name %q stopped_by %q global_step %d forward_passes %d, want mezo mezo-tiny max_steps 4 8",
			res.Method, res.Name, res.StoppedBy, res.GlobalStep, res.Forwards)
	}
	if res.BestStep == nil || (*res.BestStep != 2 && *res.BestStep != 4) {
		t.Fatalf("result.json best_step %v, want 2 or 4", res.BestStep)
	}
	if res.Dev == nil || res.Test == nil || res.Dev.Examples != 32 || res.Test.Examples != 872 {
		t.Fatalf("result.json dev %+v test %+v, want 32 and 872 examples", res.Dev, res.Test)
	}
	if res.Test.Correct != int(finalTest.num(t, "correct")) || !near(res.Test.Loss, finalTest.num(t, "loss")) {
		t.Errorf("result.json test %+v disagrees with metrics.jsonl %v", *res.Test, finalTest)
	}
	if res.Versions.Libtorch == "" || !strings.Contains(res.Versions.Libtorch, ".") {
		t.Errorf("versions.libtorch %q", res.Versions.Libtorch)
	}
	if res.Versions.Gomezo == "" {
		t.Errorf("versions.gomezo is empty")
	}
	if res.Device != "cpu" || res.PeakMemory <= 0 || res.MedianStep <= 0 {
		t.Errorf("device %q peak_memory_bytes %d median_step_s %g", res.Device, res.PeakMemory, res.MedianStep)
	}
	if m, _ := res.Recipe["method"].(map[string]any); m["kind"] != "mezo" {
		t.Errorf("result.json recipe.method = %v", res.Recipe["method"])
	}
	// The final dev evaluation is the best model's: its loss is the one
	// logged at best_step.
	var bestDev, otherDev metricLine
	for _, m := range devDuring {
		if int(m.num(t, "step")) == *res.BestStep {
			bestDev = m
		} else {
			otherDev = m
		}
	}
	if !near(res.Dev.Loss, bestDev.num(t, "loss")) {
		t.Errorf("result.json dev loss %v, want the loss at best_step %d, %v", res.Dev.Loss, *res.BestStep, bestDev["loss"])
	}

	// A second run into the same directory is refused, and leaves it as
	// it was.
	before, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	log, err = mezoRun(t, "run", rp, "--quiet")
	if err == nil {
		t.Fatalf("a second run into %s succeeded:\n%s", out, log)
	}
	if !strings.Contains(err.Error(), "--overwrite") || !strings.Contains(err.Error(), out) {
		t.Errorf("refusal does not name the directory and --overwrite: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "result.json")); !bytes.Equal(after, before) {
		t.Errorf("the refused run changed result.json")
	}

	// --overwrite replaces it; the run is deterministic, so the outcome is
	// the same.
	log, err = mezoRun(t, "run", rp, "--overwrite", "--quiet")
	if err != nil {
		t.Fatalf("mezo run --overwrite: %v\n%s", err, log)
	}
	if strings.Contains(log, "step 0:") {
		t.Errorf("--quiet printed progress lines:\n%s", log)
	}
	res2 := readResult(t, out)
	if n := len(readMetrics(t, out)); n != len(lines) {
		t.Errorf("metrics.jsonl after --overwrite has %d lines, want %d (replaced, not appended)", n, len(lines))
	}
	if res2.Test == nil || res2.Test.Correct != res.Test.Correct || !near(res2.Test.Loss, res.Test.Loss) || *res2.BestStep != *res.BestStep {
		t.Errorf("the rerun gave test %+v best %v, the first %+v best %v", res2.Test, res2.BestStep, *res.Test, *res.BestStep)
	}

	// mezo eval reloads best.safetensors: it scores test as the run did,
	// and dev as at best_step (not as the model of the other evaluation).
	ev := runEval(t, out, "test")
	if ev.Correct != res.Test.Correct || ev.Examples != res.Test.Examples || !near(ev.Loss, res.Test.Loss) {
		t.Errorf("mezo eval --split test: %d/%d loss %v; result.json test %d/%d loss %v",
			ev.Correct, ev.Examples, ev.Loss, res.Test.Correct, res.Test.Examples, res.Test.Loss)
	}
	dev := runEval(t, out, "dev")
	if dev.Correct != res.Dev.Correct || !near(dev.Loss, bestDev.num(t, "loss")) {
		t.Errorf("mezo eval --split dev: %d loss %v; at best_step %v", dev.Correct, dev.Loss, bestDev)
	}
	if otherDev != nil && otherDev.num(t, "loss") != bestDev.num(t, "loss") && near(dev.Loss, otherDev.num(t, "loss")) {
		t.Errorf("mezo eval scored the model of step %v, not the best (step %d)", otherDev["step"], *res.BestStep)
	}
	if _, err := runApp(t, "eval", out, "--split", "train"); err == nil || !strings.Contains(err.Error(), "dev or test") {
		t.Errorf("mezo eval --split train: %v", err)
	}
}

// TestRunFineTune: an FT recipe (transformers AdamW with a linear schedule,
// backpropagation) runs a few steps end to end.
func TestRunFineTune(t *testing.T) {
	f := newRunFixture(t)
	tmp := t.TempDir()
	rp := f.recipe(t, tmp, "ft-tiny.yaml", "ft", "")
	out := filepath.Join(tmp, "out")
	log, err := mezoRun(t, "run", rp, "--set", "optim.lr=1e-4", "--set", "eval.do_predict=false", "--quiet")
	if err != nil {
		t.Fatalf("mezo run: %v\n%s", err, log)
	}
	if !strings.Contains(log, "run ft-tiny: ft on SST-2, 4 steps") {
		t.Errorf("summary line missing:\n%s", log)
	}
	train, eval := checkMetricLines(t, readMetrics(t, out), "ft")
	if len(train) != 4 {
		t.Errorf("%d train lines, want 4", len(train))
	}
	// linear decay from 1e-4 to 0 over 4 steps, no warm-up
	if n := len(train); n > 0 && train[n-1].num(t, "lr") != 0 {
		t.Errorf("last lr %v, want 0 (linear schedule)", train[n-1]["lr"])
	}
	for i, m := range train {
		if g := m.num(t, "grad_norm"); !(g > 0) {
			t.Errorf("train line %d: grad_norm %v", i, g)
		}
	}
	if len(eval) != 3 {
		t.Errorf("%d eval lines, want 3 (steps 2 and 4, final dev)", len(eval))
	}
	res := readResult(t, out, "best_step", "dev", "global_step", "versions", "device")
	if res.Method != "ft" || res.GlobalStep != 4 || res.StoppedBy != "max_steps" || res.Dev == nil || res.Test != nil || res.BestStep == nil {
		t.Errorf("result.json: %+v", res)
	}
	if m, _ := res.Recipe["optim"].(map[string]any); m["name"] != "adamw" || m["schedule"] != "linear" {
		t.Errorf("ft recipe did not get finetune.sh's optimizer: %v", res.Recipe["optim"])
	}
	if _, err := os.Stat(filepath.Join(out, "best.safetensors")); err != nil {
		t.Error(err)
	}
	ev := runEval(t, out, "dev")
	if ev.Correct != res.Dev.Correct || !near(ev.Loss, res.Dev.Loss) {
		t.Errorf("mezo eval --split dev %+v, result.json dev %+v", ev, *res.Dev)
	}
}

// TestRunZeroShot: a zero-shot recipe evaluates the model as loaded, trains
// nothing, and saves no model; `mezo eval` of its directory says why it
// cannot run.
func TestRunZeroShot(t *testing.T) {
	f := newRunFixture(t)
	tmp := t.TempDir()
	rp := f.recipe(t, tmp, "zs-tiny.yaml", "zero-shot", "")
	out := filepath.Join(tmp, "out")
	log, err := mezoRun(t, "run", rp, "--set", "output.save_best=false")
	if err != nil {
		t.Fatalf("mezo run: %v\n%s", err, log)
	}
	lines := readMetrics(t, out)
	train, eval := checkMetricLines(t, lines, "mezo")
	if len(train) != 0 || len(eval) != 2 {
		t.Errorf("zero-shot metrics: %d train and %d eval lines, want 0 and 2", len(train), len(eval))
	}
	res := readResult(t, out, "best_step", "dev", "test", "global_step", "forward_passes", "recipe", "versions", "device")
	if res.Method != "zero-shot" || res.GlobalStep != 0 || res.Forwards != 0 || res.BestStep != nil {
		t.Errorf("result.json: method %q global_step %d forward_passes %d best_step %v", res.Method, res.GlobalStep, res.Forwards, res.BestStep)
	}
	if res.Dev == nil || res.Test == nil || res.Dev.Examples != 32 || res.Test.Examples != 872 || res.Test.Acc <= 0 || res.Test.Acc >= 1 {
		t.Fatalf("result.json dev %+v test %+v", res.Dev, res.Test)
	}
	if _, err := os.Stat(filepath.Join(out, "best.safetensors")); err == nil {
		t.Errorf("zero-shot with save_best false wrote best.safetensors")
	}
	_, err = runApp(t, "eval", out)
	if err == nil || !strings.Contains(err.Error(), "best.safetensors") || !strings.Contains(err.Error(), "save_best") {
		t.Errorf("mezo eval of a run without a saved model: %v", err)
	}
}

// TestRunDryRun: --dry-run prints the resolved recipe, the trainable
// parameters (names and count), the data sizes and the budget, and writes
// nothing.
func TestRunDryRun(t *testing.T) {
	f := newRunFixture(t)
	tmp := t.TempDir()
	rp := f.recipe(t, tmp, "dry.yaml", "mezo", "")
	out := filepath.Join(tmp, "out")
	stdout, stderr, err := runMezo(t, "", "--threads", "1", "run", rp, "--dry-run", "--set", "optim.max_steps=7")
	if err != nil {
		t.Fatalf("--dry-run: %v\n%s%s", err, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("--dry-run created output.dir %s", out)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Errorf("--dry-run wrote into %s: %v", tmp, entries)
	}

	head, session, ok := strings.Cut(stdout, "# session\n")
	if !ok || !strings.HasPrefix(head, "# resolved recipe\n") {
		t.Fatalf("dry run output has no resolved recipe and session sections:\n%s", stdout)
	}
	// The printed recipe is the resolved one: every field explicit, the
	// --set applied, and it decodes to what the run would use.
	want, err := recipe.Load(rp, "optim.max_steps=7")
	if err != nil {
		t.Fatal(err)
	}
	got, err := recipe.Parse("dry-run output", []byte(strings.TrimPrefix(head, "# resolved recipe\n")))
	if err != nil {
		t.Fatalf("printed recipe does not parse: %v\n%s", err, head)
	}
	if *got != *want {
		t.Errorf("printed recipe\n%+v\nwant\n%+v", *got, *want)
	}
	for _, s := range []string{"max_steps: 7", "template: '*cls**sent_0*_It_was*mask*.*sep+*'", "eps: 0.001", "z_stream: philox"} {
		if !strings.Contains(head, s) {
			t.Errorf("resolved recipe lacks %q", s)
		}
	}

	m := regexp.MustCompile(`(?m)^parameters (\d+) trainable of (\d+), in (\d+) tensors:\n((?:  \S+\n)+)`).FindStringSubmatch(session)
	if m == nil {
		t.Fatalf("no trainable parameter list:\n%s", session)
	}
	trainable, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	tensors, _ := strconv.Atoi(m[3])
	names := strings.Fields(m[4])
	if len(names) != tensors || tensors == 0 {
		t.Errorf("%d names listed for %d tensors", len(names), tensors)
	}
	if !(trainable > 0 && trainable < total) {
		t.Errorf("trainable %d of %d: the prompt head freezes the pooler and classifier, so fewer than all", trainable, total)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "roberta.pooler.") || strings.HasPrefix(n, "classifier.") {
			t.Errorf("unused head %s listed as trainable", n)
		}
	}
	if len(names) == 0 || names[0] != "roberta.embeddings.word_embeddings.weight" || !contains(names, "lm_head.decoder.weight") {
		t.Errorf("trainable names %v", names)
	}
	for _, s := range []string{
		"data       SST-2 (" + filepath.Clean(f.data) + "): train 32, dev 32, test 872",
		"labels     {'0':'terrible','1':'great'} → ids [",
		"budget     mezo: max_steps 7, max_zo_forward_steps 0, batch 8 (4 batches per epoch), eval every 2",
	} {
		if !strings.Contains(session, s) {
			t.Errorf("dry run lacks %q:\n%s", s, session)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestRunSetVerbatim: a --set value is taken whole (commas and spaces
// included: urfave's string slices would split it), and a --set of one run
// does not leak into the next run in the same process.
func TestRunSetVerbatim(t *testing.T) {
	f := newRunFixture(t)
	tmp := t.TempDir()
	rp := f.recipe(t, tmp, "set.yaml", "mezo", "")
	out, err := mezoRun(t, "run", rp, "--dry-run", "--set", "task.mapping={'0': 'terrible', '1': 'great'}", "--set=optim.lr=2e-6")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, s := range []string{"labels     {'0': 'terrible', '1': 'great'} → ids [", "  lr: 2e-06\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry run lacks %q:\n%s", s, out)
		}
	}
	if _, err := mezoRun(t, "run", rp, "--dry-run", "--set", "optim.lr=fast"); err == nil {
		t.Fatal("optim.lr=fast accepted")
	}
	out, err = mezoRun(t, "run", rp, "--dry-run")
	if err != nil {
		t.Fatalf("the previous run's --set leaked into this one: %v", err)
	}
	if !strings.Contains(out, "  lr: 0.001\n") {
		t.Errorf("lr is not the file's 1e-3:\n%s", out)
	}
}

// TestRunBadInput: each mistake gives one error that names where it is.
func TestRunBadInput(t *testing.T) {
	f := newRunFixture(t)
	tmp := t.TempDir()
	good := f.recipe(t, tmp, "good.yaml", "mezo", "")
	// a key the schema does not know, on line 27 of the file
	unknown := f.recipe(t, tmp, "unknown.yaml", "mezo", "runtime:\n  device: cpu\n  thread: 2\n")
	// a number given as a word, on line 27
	wrongType := f.recipe(t, tmp, "wrongtype.yaml", "mezo", "runtime:\n  device: cpu\n  threads: many\n")
	// a model directory with no usable files: an error about it shows the
	// device was not checked first
	broken := filepath.Join(tmp, "broken-model")
	if err := os.Mkdir(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "config.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	lineOf := func(path, text string) int {
		data, _ := os.ReadFile(path)
		for i, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, text) {
				return i + 1
			}
		}
		t.Fatalf("%s has no line %q", path, text)
		return 0
	}

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown key", []string{unknown},
			[]string{fmt.Sprintf("%s:%d:", unknown, lineOf(unknown, "thread: 2")), "runtime", `"thread"`, "threads"}},
		{"wrong type", []string{wrongType},
			[]string{fmt.Sprintf("%s:%d:", wrongType, lineOf(wrongType, "threads: many")), "runtime.threads", "integer", "many"}},
		{"wrong type in --set", []string{good, "--set", "optim.max_steps=four"},
			[]string{"optim.max_steps", "four", "--set"}},
		{"unknown --set path", []string{good, "--set", "optim.learning_rate=1e-6"},
			[]string{"optim.learning_rate"}},
		{"missing data directory", []string{good, "--set", "task.data_dir=" + filepath.Join(tmp, "no-such-split")},
			[]string{"task.data_dir", filepath.Join(tmp, "no-such-split")}},
		{"multi-token label word", []string{good, "--set", "task.mapping={'0':'terrible','1':'absolutely great'}"},
			[]string{"task.mapping", `"absolutely great"`}},
		{"template without a mask", []string{good, "--set", "task.template=*cls**sent_0*_It_was.*sep+*"},
			[]string{"task.template", "*mask*"}},
		{"unavailable device", []string{good, "--device", "cuda:3", "--set", "model.path=" + broken},
			[]string{"runtime.device", "cuda:3", "available", "cpu"}},
		{"unavailable device in the recipe", []string{good, "--set", "runtime.device=cuda:3", "--set", "model.path=" + broken},
			[]string{"runtime.device", "cuda:3", "available"}},
		{"unknown device", []string{good, "--device", "tpu"},
			[]string{"runtime.device", "tpu", "cuda:N"}},
		{"no recipe file", []string{filepath.Join(tmp, "absent.yaml")},
			[]string{filepath.Join(tmp, "absent.yaml")}},
	}
	for _, c := range cases {
		for _, dry := range []bool{true, false} {
			args := append([]string{"run"}, c.args...)
			if dry {
				args = append(args, "--dry-run")
			}
			out, errOut, err := runMezo(t, "", append([]string{"--threads", "1"}, args...)...)
			name := fmt.Sprintf("%s (dry run %v)", c.name, dry)
			if err == nil {
				t.Errorf("%s: mezo %q succeeded:\n%s", name, args, out)
				continue
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: error does not contain %q:\n%s", name, w, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("%s: more than one error line:\n%s", name, msg)
			}
			// libtorch's own exception text (its dispatcher, source
			// locations, backtraces) never reaches the user.
			for _, bad := range []string{"Exception raised from", "c10::", "Dispatch", "backend", "frame #", ".cpp"} {
				if strings.Contains(msg+out+errOut, bad) {
					t.Errorf("%s: output shows libtorch internals (%q):\n%s\n%s%s", name, bad, msg, out, errOut)
				}
			}
			if _, err := os.Stat(filepath.Join(tmp, "out")); err == nil {
				t.Fatalf("%s: the failed run created output.dir", name)
			}
		}
	}
	// The broken model directory itself is an error about model.path (so
	// the cases above failed on the device before loading the model).
	if _, err := mezoRun(t, "run", good, "--dry-run", "--set", "model.path="+broken); err == nil || !strings.Contains(err.Error(), "model.path") {
		t.Errorf("broken model directory: %v", err)
	}
	// A wrong argument count exits with status 2 (cli.Exit): catch the exit.
	exitCode := -1
	defer func(old func(int)) { cli.OsExiter = old }(cli.OsExiter)
	cli.OsExiter = func(code int) { exitCode = code }
	for _, args := range [][]string{{"run"}, {"run", good, good}, {"eval"}} {
		exitCode = -1
		if _, err := runApp(t, args...); err == nil || !strings.Contains(err.Error(), "takes one") || exitCode != 2 {
			t.Errorf("mezo %q: %v, exit status %d", args, err, exitCode)
		}
	}
	if _, err := runApp(t, "eval", filepath.Join(tmp, "no-run")); err == nil || !strings.Contains(err.Error(), "best.safetensors") {
		t.Errorf("eval of a missing run directory: %v", err)
	}
}

// TestRunPaperRecipesDryRun: every recipe under recipes/paper resolves and
// builds its session on the fixture model and the task's official k=16
// split (seed 13).
func TestRunPaperRecipesDryRun(t *testing.T) {
	model := testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model")
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "recipes", "paper", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recipes under recipes/paper")
	}
	sort.Strings(files)
	tmp := t.TempDir()
	standIns := map[string]string{}
	for _, file := range files {
		base := filepath.Base(file)
		r, err := recipe.Decode(file, mustRead(t, file))
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		dataDir, err := paperSplit(t, r.Task.Name, tmp, standIns)
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		out := filepath.Join(tmp, "runs", strings.TrimSuffix(base, ".yaml"))
		stdout, err := mezoRun(t, "run", file, "--dry-run", "--set", "model.path="+model, "--set", "task.data_dir="+dataDir,
			"--set", "output.dir="+out)
		if err != nil {
			t.Errorf("%s: %v\n%s", base, err, stdout)
			continue
		}
		want := []string{"# resolved recipe\nname: " + strings.TrimSuffix(base, ".yaml") + "\n",
			"  kind: " + string(r.Method.Kind) + "\n", "\ndata       " + r.Task.Name + " (", "\nbudget     " + string(r.Method.Kind) + ": "}
		if r.Method.Kind != recipe.ZeroShot {
			want = append(want, " trainable of ")
		}
		for _, w := range want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: dry run lacks %q:\n%s", base, w, stdout)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: --dry-run created %s", base, out)
		}
	}
	for task, why := range standIns {
		t.Logf("%s: %s", task, why)
	}
	t.Logf("dry-ran %d paper recipes", len(files))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// paperSplit is the k=16 split of task in the shared data: seed 13, or the
// first seed present. The shared copy of LM-BFF's MNLI and SNLI splits has
// no test file (the full GLUE dev sets were left out, shared/data/README.md):
// for those the split is linked into tmp with the dev file standing in as
// the test file, so the recipe's test split still loads, and standIns says
// so. A task with no split, or no train or dev file, is an error.
func paperSplit(t *testing.T, task, tmp string, standIns map[string]string) (string, error) {
	lt, err := lmbff.LookupTask(task)
	if err != nil {
		return "", err
	}
	root := testenv.SharedPath(t, "data", "k-shot", lt.Name)
	dir := filepath.Join(root, "16-13")
	if _, err := os.Stat(dir); err != nil {
		seeds, _ := filepath.Glob(filepath.Join(root, "16-*"))
		if len(seeds) == 0 {
			return "", fmt.Errorf("task %s has no k=16 split in the shared data (looked for %s/16-*)", lt.Name, root)
		}
		sort.Strings(seeds)
		dir = seeds[0]
	}
	path := func(d string, s lmbff.Split) string {
		p, err := lt.Path(d, s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, s := range []lmbff.Split{lmbff.SplitTrain, lmbff.SplitDev} {
		if _, err := os.Stat(path(dir, s)); err != nil {
			return "", fmt.Errorf("task %s: the shared split lacks its %s file: %v", lt.Name, s, err)
		}
	}
	test := path(dir, lmbff.SplitTest)
	if _, err := os.Stat(test); err == nil {
		return dir, nil
	}
	sub := filepath.Join(tmp, "data", lt.Name, filepath.Base(dir))
	if _, err := os.Stat(sub); err == nil {
		return sub, nil
	}
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return "", err
	}
	for _, s := range []lmbff.Split{lmbff.SplitTrain, lmbff.SplitDev} {
		if err := os.Symlink(path(dir, s), path(sub, s)); err != nil {
			return "", err
		}
	}
	if err := os.Symlink(path(dir, lmbff.SplitDev), path(sub, lmbff.SplitTest)); err != nil {
		return "", err
	}
	standIns[lt.Name] = fmt.Sprintf("%s is absent from the shared data; its dev file stands in for it", test)
	return sub, nil
}

// TestRunEvalHelp: run and eval are registered (TestHelpOnEveryCommand
// walks every command) and their help shows their flags.
func TestRunEvalHelp(t *testing.T) {
	for cmd, flags := range map[string][]string{
		"run":  {"--set PATH=VALUE", "--dry-run", "--overwrite", "--device DEVICE", "--quiet", "RECIPE.yaml"},
		"eval": {"--split SPLIT", "--device DEVICE", "RUN_DIR"},
	} {
		if findCommand(newApp().Commands, cmd) == nil {
			t.Errorf("%s is not registered", cmd)
			continue
		}
		out, err := runApp(t, cmd, "--help")
		if err != nil {
			t.Errorf("mezo %s --help: %v", cmd, err)
		}
		for _, f := range flags {
			if !strings.Contains(out, f) {
				t.Errorf("mezo %s --help lacks %q:\n%s", cmd, f, out)
			}
		}
	}
}
