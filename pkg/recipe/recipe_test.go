package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// required are overrides that make a minimal recipe valid.
var required = []string{"model.path=roberta-large", "task.data_dir=/data/SST-2/16-42"}

func mustParse(t *testing.T, src string, sets ...string) *Recipe {
	t.Helper()
	r, err := Parse("test.yaml", []byte(src), append(slices.Clone(required), sets...)...)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

// wantErrors checks that err holds exactly the messages want, in any order.
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", want)
	}
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.Error())
	}
	if len(got) == 0 {
		got = []string{err.Error()}
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestUnknownKeyNamesFileAndLine(t *testing.T) {
	src := "method:\n  kind: mezo\noptim:\n  lr: 1e-6\n  lrr: 2\nmodle:\n  path: x\n"
	_, err := Decode("recipes/x.yaml", []byte(src))
	wantErrors(t, err,
		`recipes/x.yaml:5: optim: unknown key "lrr" (did you mean "lr"?) (known: name, lr, weight_decay, adam_beta1, adam_beta2, adam_epsilon, schedule, warmup_steps, warmup_ratio, max_grad_norm, batch_size, gradient_accumulation_steps, drop_last, max_steps, max_zo_forward_steps, epochs, seed, momentum, dampening, nesterov)`,
		`recipes/x.yaml:6: unknown key "modle" (did you mean "model"?) (known: name, description, reference, model, task, method, optim, eval, output, runtime, peft, largemodels)`)
}

func TestWrongTypeNamesFileLineAndField(t *testing.T) {
	src := `name: x
method:
  kind: mezo
task:
  name: SST-2
optim:
  lr: fast
  max_steps: 10.5
  batch_size: "64"
eval:
  during_training: yes
model: [a, b]
runtime:
  threads:
    n: 2
`
	_, err := Decode("recipes/x.yaml", []byte(src))
	wantErrors(t, err,
		`recipes/x.yaml:7: optim.lr: expected a number, got "fast"`,
		`recipes/x.yaml:8: optim.max_steps: expected an integer, got "10.5"`,
		`recipes/x.yaml:9: optim.batch_size: expected an integer, got "64"`,
		`recipes/x.yaml:11: eval.during_training: expected true or false, got "yes"`,
		`recipes/x.yaml:12: model: expected a mapping of family, path, init_state, head, dtype, train_dropout, pretrain, got a list`,
		`recipes/x.yaml:15: runtime.threads: expected an integer, got a mapping`)
}

func TestDecodeSyntaxErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"a: [1\n", "x.yaml:1: invalid YAML: did not find expected ',' or ']'"},
		{"model: {}\n---\ntask: {}\n", "x.yaml:3: a recipe is one YAML document"},
		{"- 1\n- 2\n", "x.yaml:1: expected a mapping of sections"},
		{"optim:\n  lr: 1\n  lr: 2\n", "x.yaml:3: optim.lr: duplicate key (first at line 2)"},
		{"task:\n  template: *cls**sent_0*\n", "x.yaml"},
	} {
		_, err := Decode("x.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v, want an error containing %q", c.src, err, c.want)
		}
	}
}

func TestNullAndEmptyKeepDefaults(t *testing.T) {
	r := mustParse(t, "method:\n  kind: mezo\ntask: {name: SST-2}\noptim:\n  lr: ~\neval:\n")
	if r.Optim.LR != 1e-6 || r.Eval.BatchSize != 4 {
		t.Errorf("lr %v, eval batch %d: want the defaults 1e-6, 4", r.Optim.LR, r.Eval.BatchSize)
	}
	if _, err := Decode("empty.yaml", nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestIntegersAcceptExactFloats(t *testing.T) {
	r := mustParse(t, "method:\n  kind: mezo\ntask: {name: SST-2}\noptim:\n  max_steps: 1e5\n  lr: 1\n")
	if r.Optim.MaxSteps != 100000 || r.Optim.LR != 1 {
		t.Errorf("max_steps %d, lr %v", r.Optim.MaxSteps, r.Optim.LR)
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	src := "method:\n  kind: mezo\n  eps: &e 0.01\ntask: {name: SST-2}\noptim:\n  lr: *e\n"
	r := mustParse(t, src)
	if r.Optim.LR != 0.01 || r.Method.Eps != 0.01 {
		t.Errorf("lr %v eps %v, want 0.01", r.Optim.LR, r.Method.Eps)
	}
}

func TestSetOverrides(t *testing.T) {
	src := "method:\n  kind: mezo\noptim:\n  lr: 1e-3\ntask:\n  name: SST-2\n"
	r := mustParse(t, src, "optim.lr=1e-6", "task.data_dir=/x", "model.path=roberta-large",
		"task.template=*cls**sent_0*_It_is*mask*.*sep+*", "task.mapping={'0':'bad','1':'good'}",
		"eval.during_training=false", "runtime.device=cuda:1", "name=123")
	if r.Optim.LR != 1e-6 || r.Task.DataDir != "/x" || r.Model.Path != "roberta-large" ||
		r.Task.Template != "*cls**sent_0*_It_is*mask*.*sep+*" || r.Task.Mapping != "{'0':'bad','1':'good'}" ||
		r.Eval.DuringTraining || r.Runtime.Device != "cuda:1" || r.Name != "123" {
		t.Errorf("overrides not applied: %+v", r)
	}
	// A later --set wins, as argparse's later flag does.
	if r := mustParse(t, src, "optim.lr=1", "optim.lr=2"); r.Optim.LR != 2 {
		t.Errorf("lr %v, want the later 2", r.Optim.LR)
	}
	// A --set of method.kind picks that method's defaults.
	if r := mustParse(t, "", "method.kind=ft", "task.name=rte"); r.Optim.Name != AdamW || r.Optim.LR != 1e-5 {
		t.Errorf("ft defaults not applied: %+v", r.Optim)
	}
	// Sections shared through an anchor are copied, not changed together.
	r = mustParse(t, "method: {kind: mezo}\ntask: {name: SST-2}\noutput: &o {dir: a}\n", "output.dir=b")
	if r.Output.Dir != "b" {
		t.Errorf("output.dir %q", r.Output.Dir)
	}
}

func TestBadSets(t *testing.T) {
	_, err := Decode("x.yaml", []byte("optim:\n  lr: 1\nmodel: 3\n"),
		"optim.lrr=1", "optim.lr=fast", "optim=3", "nothing", "model.path=x", "optim.lr.x=1", "eval.batch_size=")
	wantErrors(t, err,
		`--set optim.lrr=1: optim.lrr: unknown field (did you mean "optim.lr"?)`,
		`--set optim=3: optim: is a section; set one of its fields: optim.name, optim.lr, optim.weight_decay, optim.adam_beta1, optim.adam_beta2, optim.adam_epsilon, optim.schedule, optim.warmup_steps, optim.warmup_ratio, optim.max_grad_norm, optim.batch_size, optim.gradient_accumulation_steps, optim.drop_last, optim.max_steps, optim.max_zo_forward_steps, optim.epochs, optim.seed, optim.momentum, optim.dampening, optim.nesterov`,
		`--set nothing: expected PATH=VALUE, e.g. optim.lr=1e-6`,
		`--set model.path=x: model: x.yaml:3 holds "3", not a section`,
		`--set optim.lr.x=1: optim.lr.x: unknown field: optim.lr is not a section`)
	// Type errors of a --set are reported by decoding, naming the --set.
	_, err = Decode("x.yaml", []byte("optim:\n  lr: 1\n"), "optim.lr=fast", "eval.batch_size=", "reference=1")
	wantErrors(t, err,
		`--set optim.lr=fast: optim.lr: expected a number, got "fast"`,
		`--set eval.batch_size=: eval.batch_size: expected an integer, got ""`,
		`--set reference=1: reference: expected true or false, got "1"`)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	src := `method:
  kind: mzo
  eps: 0
task:
  name: SST-3
optim:
  lr: -1
  max_steps: 0
  epochs: 0
eval:
  batch_size: 0
`
	_, err := Parse("bad.yaml", []byte(src))
	wantErrors(t, err,
		`model.path: required: a Hugging Face model directory or cache name (e.g. --set model.path=roberta-large), or model.pretrain.preset`,
		`bad.yaml:5: task.name: unknown task "SST-3" (known: `+strings.Join(lmbff.TaskNames(), ", ")+`)`,
		`task.data_dir: required: the k-shot split directory (e.g. --set task.data_dir=data/k-shot-1k-test/SST-2/16-42)`,
		`bad.yaml:2: method.kind: expected one of mezo, ft, zero-shot, lp, got "mzo"`,
		`bad.yaml:7: optim.lr: expected a finite number ≥ 0, got -1`,
		`bad.yaml:11: eval.batch_size: expected an integer ≥ 1, got 0`)
	// With a known method, the method's own checks run too.
	_, err = Parse("bad.yaml", []byte(strings.Replace(src, "mzo", "mezo", 1)), required...)
	wantErrors(t, err,
		`bad.yaml:5: task.name: unknown task "SST-3" (known: `+strings.Join(lmbff.TaskNames(), ", ")+`)`,
		`bad.yaml:3: method.eps: expected a finite number > 0, got 0`,
		`bad.yaml:7: optim.lr: expected a finite number ≥ 0, got -1`,
		`bad.yaml:8: optim.max_steps: training needs a budget: optim.max_steps or optim.epochs must be > 0`,
		`bad.yaml:11: eval.batch_size: expected an integer ≥ 1, got 0`)
}

func TestValidateMethodRules(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want []string
	}{
		{[]string{"method.kind=mezo", "optim.name=adamw", "optim.schedule=linear", "optim.gradient_accumulation_steps=2"}, []string{
			"--set optim.name=adamw: optim.name: adamw needs method.trainer_optim: true (the plain MeZO step is SGD at a constant learning rate)",
			"--set optim.schedule=linear: optim.schedule: linear needs method.trainer_optim: true (the plain MeZO step is SGD at a constant learning rate)",
			"--set optim.gradient_accumulation_steps=2: optim.gradient_accumulation_steps: gradient accumulation needs method.trainer_optim: true: the inline MeZO update has no gradient buffer to accumulate into (the reference asserts gradient_accumulation_steps == 1 there, trainer.py:623-625 and 713)",
		}},
		{[]string{"method.kind=mezo", "method.trainer_optim=true", "method.samples=4"}, []string{
			"--set method.samples=4: method.samples: n-SPSA with 4 samples needs method.sample_schedule constant or linear (the reference ignores samples without one)",
		}},
		{[]string{"method.kind=ft", "method.loss=neg-acc"}, []string{
			"--set method.loss=neg-acc: method.loss: neg-acc needs a zeroth-order method (method.kind mezo); ft trains with ce",
		}},
		{[]string{"method.kind=ft", "task.few_shot_type=finetune", "model.head=prompt"}, []string{
			"--set model.head=prompt: model.head: few_shot_type finetune needs the classification head, got prompt",
		}},
		{[]string{"method.kind=zero-shot", "eval.do_eval=false", "eval.do_predict=false"}, []string{
			"--set eval.do_eval=false: eval.do_eval: zero-shot only evaluates: set eval.do_eval or eval.do_predict",
		}},
		{[]string{"method.kind=mezo", "task.template=*cls**sent_0*.*sep+*", "task.mapping={'0':'bad'}", "runtime.device=gpu"}, []string{
			`--set task.template=*cls**sent_0*.*sep+*: task.template: a prompt template needs *mask*, got "*cls**sent_0*.*sep+*"`,
			`--set task.mapping={'0':'bad'}: task.mapping: no word for SST-2 label "1"`,
			`--set runtime.device=gpu: runtime.device: expected cpu, cuda or cuda:N, got "gpu"`,
		}},
		{[]string{"method.kind=mezo", "reference=true", "method.seed_stream=simple", "runtime.z_stream=philox"}, []string{
			"--set method.seed_stream=simple: method.seed_stream: reference: true uses the reference-data stream, got simple",
			"--set runtime.z_stream=philox: runtime.z_stream: reference: true draws z from the torch stream, got philox",
		}},
		{[]string{"method.kind=mezo", "runtime.precision=bf16"}, []string{
			"--set runtime.precision=bf16: runtime.precision: bf16 runs the forward passes under CUDA autocast; on the CPU libtorch 1.13 has no half-precision kernels for these ops: use fp32 (or runtime.device: cuda)",
		}},
		{[]string{"method.kind=ft", "runtime.precision=fp16", "runtime.device=cuda"}, []string{
			"--set runtime.precision=fp16: runtime.precision: fp16 fine-tuning needs loss scaling, which mezo run does not do: use bf16 (or fp32)",
		}},
		{[]string{"method.kind=mezo", "runtime.precision=fp8"}, []string{
			`--set runtime.precision=fp8: runtime.precision: expected one of fp32, bf16, fp16, got "fp8"`,
		}},
	} {
		_, err := Parse("x.yaml", []byte("task: {name: SST-2}\n"), append(slices.Clone(required), c.sets...)...)
		wantErrors(t, err, c.want...)
	}
}

func TestDefaultsApplied(t *testing.T) {
	r := mustParse(t, "method:\n  kind: mezo\ntask:\n  name: sst-2\n")
	want := Default(MeZO)
	want.Name = "test"
	want.Model.Path, want.Task.DataDir = "roberta-large", "/data/SST-2/16-42"
	want.Model.Head = HeadPrompt
	want.Method.SeedStream = SeedSimple
	want.Output.Dir = filepath.Join("runs", "test")
	want.Task.Name = "SST-2"
	want.Task.Template = "*cls**sent_0*_It_was*mask*.*sep+*"
	want.Task.Mapping = "{'0':'terrible','1':'great'}"
	if *r != want {
		t.Errorf("got  %+v\nwant %+v", *r, want)
	}
	if o := r.Optim; o.Name != SGD || o.Schedule != ScheduleConstant || o.LR != 1e-6 || o.BatchSize != 64 ||
		o.MaxSteps != 100000 || r.Eval.Steps != 10000 || r.Method.Eps != 1e-3 || r.Eval.BatchSize != 4 ||
		r.Eval.LoggingSteps != 10 || o.Seed != 42 {
		t.Errorf("mezo.sh defaults not applied: %+v %+v", o, r.Eval)
	}

	ft := mustParse(t, "method:\n  kind: ft\ntask:\n  name: MNLI\n  few_shot_type: finetune\n")
	if o := ft.Optim; o.Name != AdamW || o.Schedule != ScheduleLinear || o.LR != 1e-5 || o.BatchSize != 8 ||
		o.MaxSteps != 1000 || ft.Eval.Steps != 100 || ft.Model.Head != HeadClassification {
		t.Errorf("finetune.sh defaults not applied: %+v", ft)
	}
	// The task table's settings (run_fewshot.sh's TASK_EXTRA).
	if tk := ft.Task; tk.MaxSeqLength != 256 || tk.FirstSentLimit != 240 ||
		tk.Template != "*cls**sent-_0*?*mask*,*+sentl_1**sep+*" {
		t.Errorf("MNLI settings not applied: %+v", tk)
	}
	// A value the recipe sets, zero included, is kept.
	r = mustParse(t, "method:\n  kind: mezo\ntask:\n  name: sst-5\n  first_sent_limit: 0\n  other_sent_limit: 7\n")
	if r.Task.FirstSentLimit != 0 || r.Task.OtherSentLimit != 7 || !r.Task.DoubleDemo {
		t.Errorf("sst-5: %+v", r.Task)
	}
	_, err := Parse("x.yaml", []byte("method: {kind: mezo}\ntask: {name: SST-2}\neval:\n  batch_size: 0\n"), required...)
	wantErrors(t, err, "x.yaml:4: eval.batch_size: expected an integer ≥ 1, got 0")
}

func TestReferenceSwitch(t *testing.T) {
	on := mustParse(t, "reference: true\nmethod: {kind: mezo}\ntask: {name: SST-2}\n")
	if q := on.Quirks(); q != (Quirks{RestorePass: true, StopPastBudget: true, TrainUnusedHeads: true, InconsistentVariants: true, AccumulationWindows: true}) {
		t.Errorf("reference: true resolves to %+v", q)
	}
	if on.Method.SeedStream != SeedReferenceData || on.Runtime.ZStream != ZTorch {
		t.Errorf("reference: true streams %s, %s", on.Method.SeedStream, on.Runtime.ZStream)
	}
	off := mustParse(t, "method: {kind: mezo}\ntask: {name: SST-2}\n", "runtime.z_stream=philox")
	if q := off.Quirks(); q != (Quirks{}) {
		t.Errorf("reference: false resolves to %+v", q)
	}
	if off.Method.SeedStream != SeedSimple {
		t.Errorf("reference: false seed stream %s", off.Method.SeedStream)
	}
	// Every quirk is named once: the struct has exactly the fields Quirks
	// sets, so a new one cannot be forgotten by the switch.
	n := reflect.TypeOf(Quirks{}).NumField()
	q := reflect.ValueOf(on.Quirks())
	for i := 0; i < n; i++ {
		if !q.Field(i).Bool() {
			t.Errorf("reference: true leaves %s off", reflect.TypeOf(Quirks{}).Field(i).Name)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var recipes []*Recipe
	recipes = append(recipes,
		mustParse(t, "method: {kind: mezo}\ntask: {name: trec}\n"),
		mustParse(t, "reference: true\ndescription: \"a: b\\n  c\"\nmethod: {kind: ft}\ntask: {name: MNLI}\n",
			"name=0x10", "model.init_state= spaces ", "optim.lr=1.5e-300",
			"task.mapping={'contradiction':'no','entailment':'yes','neutral':'maybe'}"))
	for _, dir := range referenceRunDirs(t) {
		r, err := FromReferenceArgs(filepath.Join(dir, "args.json"))
		if err != nil {
			t.Fatal(err)
		}
		recipes = append(recipes, r)
	}
	for _, r := range recipes {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode("recipe.yaml", b)
		if err != nil {
			t.Fatalf("decoding the marshalled recipe: %v\n%s", err, b)
		}
		if *back != *r {
			t.Errorf("round trip changed the recipe:\n%+v\n%+v\n%s", *r, *back, b)
		}
	}
}

func TestPathsAreDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "recipes", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Paths() {
		if !strings.Contains(string(readme), "`"+p+"`") {
			t.Errorf("recipes/README.md does not document `%s`", p)
		}
	}
	// Every field is a plain value the decoder knows.
	for _, p := range Paths() {
		ty, err := leafType(p)
		if err != nil {
			t.Fatal(err)
		}
		switch ty.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Float64:
		default:
			t.Errorf("%s: type %s is not decodable", p, ty)
		}
	}
}

func TestCheckPaths(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.safetensors")
	if err := os.WriteFile(state, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustParse(t, "method: {kind: mezo}\ntask: {name: SST-2}\n",
		"task.data_dir="+dir, "model.init_state="+state, "model.path=FacebookAI/roberta-large")
	if err := r.CheckPaths(); err != nil {
		t.Errorf("CheckPaths: %v", err)
	}
	r.Task.DataDir, r.Model.InitState, r.Model.Path = filepath.Join(dir, "no"), dir, "./nomodel"
	err := r.CheckPaths()
	wantErrors(t, err,
		"task.data_dir: "+filepath.Join(dir, "no")+" is not a directory",
		"model.init_state: "+dir+" is not a file",
		"model.path: ./nomodel is not a directory")
	if !errors.As(err, new(*FieldError)) {
		t.Errorf("not a *FieldError: %T", err)
	}
}
