package recipe

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// FromReferenceArgs builds the recipe of a recorded reference run from its
// args.json (the layout of shared/fixtures/mezo-reference-run/<run>/: the
// argv plus the parsed data, model and training arguments, under
// parsed_*_args or *_args). The recipe has reference: true, so it asks for
// every bit-level reference behaviour, and runs on the CPU, where the
// fixtures were recorded.
//
// Paths are resolved for the fixture layout: model.path is the run's
// model_dir found in the run folder or its parent, model.init_state the
// first initial.safetensors there, and task.data_dir the args' data_dir
// (relative to shared/) found in the nearest folder above the run that
// holds it; a path not found is kept as written. output.dir is the args'
// output_dir as written: callers set their own.
//
// An argument the args leave out takes the reference's own default
// (run.py, transformers 4.28). A feature a recipe cannot express (LoRA,
// prefix tuning, fp16, ZO variants, ...) is an error naming the argument.
// Arguments with no effect on the run (tag, cache, logging plumbing) are
// ignored. The result is validated.
func FromReferenceArgs(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("recipe: %s: %w", path, err)
	}
	a := &refArgs{file: path, m: map[string]any{}}
	found := 0
	for _, group := range []string{"data", "model", "training"} {
		for _, k := range []string{"parsed_" + group + "_args", group + "_args"} {
			if m, ok := top[k].(map[string]any); ok {
				for key, v := range m {
					a.m[key] = v
				}
				found++
				break
			}
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("recipe: %s: no parsed_{data,model,training}_args or {data,model,training}_args", path)
	}
	if argv, ok := top["argv"].([]any); ok {
		for _, s := range argv {
			if s, ok := s.(string); ok {
				a.argv = append(a.argv, s)
			}
		}
	}
	for _, u := range unsupportedArgs {
		if v, ok := a.m[u.key]; ok && !sameArg(v, u.off) {
			a.fail(u.key, "%v: %s is not expressible in a recipe yet", v, u.what)
		}
	}

	runDir := filepath.Dir(path)
	kind := FT
	switch trainer := a.str("trainer"); {
	case !a.bool("do_train") || a.bool("no_train"):
		kind = ZeroShot
	case trainer == "linearhead":
		kind = LP
	case trainer != "standard":
		a.fail("trainer", "%s: only the standard and linearhead trainers are expressible in a recipe", trainer)
	case a.bool("zero_order_optim"):
		kind = MeZO
	}
	r := Default(kind)
	r.Name = "reference-" + filepath.Base(runDir)
	r.Description = "built from " + path
	r.Reference = true

	modelDir := a.str("model_name_or_path")
	if s, ok := top["model_dir"].(string); ok && s != "" {
		modelDir = s
	}
	r.Model.Path = findDir(modelDir, runDir, filepath.Dir(runDir))
	for _, d := range []string{runDir, filepath.Dir(runDir)} {
		if st, err := os.Stat(filepath.Join(d, "initial.safetensors")); err == nil && !st.IsDir() {
			r.Model.InitState = filepath.Join(d, "initial.safetensors")
			break
		}
	}
	r.Model.DType = Float32
	r.Model.TrainDropout = true

	t := &r.Task
	t.Name = a.str("task_name")
	if lt, err := lmbff.LookupTask(t.Name); err == nil {
		t.Name = lt.Name
	}
	t.DataDir = a.str("data_dir")
	if !filepath.IsAbs(t.DataDir) && t.DataDir != "" {
		var ups []string
		for d := runDir; ; d = filepath.Dir(d) {
			ups = append(ups, d)
			if filepath.Dir(d) == d {
				break
			}
		}
		t.DataDir = findDir(t.DataDir, ups...)
	}
	t.FewShotType = lmbff.Mode(a.str("few_shot_type"))
	t.Template = a.str("template")
	t.Mapping = a.str("mapping")
	t.MaxSeqLength = a.int("max_seq_length")
	t.FirstSentLimit = a.int("first_sent_limit")
	t.OtherSentLimit = a.int("other_sent_limit")
	t.TruncateHead = a.bool("truncate_head")
	t.DoubleDemo = a.bool("double_demo")
	t.NumSample = a.int("num_sample")
	t.NumDemo = a.int("num_demo")
	t.AutoDemo = a.bool("auto_demo")
	t.NumK = a.int("num_k")
	r.Model.Head = HeadPrompt
	if t.FewShotType == lmbff.ModeFinetune {
		r.Model.Head = HeadClassification
	}

	m := &r.Method
	m.Eps = a.float("zero_order_eps")
	m.SeedStream = SeedReferenceData
	m.Efficient = a.bool("efficient_zero_order")
	m.TrainerOptim = a.bool("zero_order_use_trainer_optim")
	m.Samples = a.int("zero_order_sample")
	m.SampleSchedule = SamplesNone
	if s := a.str("zero_order_sample_scheduler"); s != "" {
		m.SampleSchedule = SampleSchedule(s)
	}
	m.ScaleLRWithSamples = a.bool("scale_lr_with_samples")
	m.ClipGrad = a.bool("zero_order_clip_grad")
	m.Loss = LossCE
	if a.bool("optimize_acc") {
		m.Loss = LossNegAcc
	}
	// --from_linearhead probes before training only when Trainer.train gets
	// model_path None, i.e. when model_name_or_path is not a directory in
	// the reference's working directory (a Hub id or a weights file): with
	// a local model directory it is a silent no-op. With the linear-probing
	// trainer it only picks the model class, which a finetune-mode lp recipe
	// does by itself.
	if a.bool("from_linearhead") && kind != LP {
		mp := a.str("model_name_or_path")
		inCwd, _ := top["model_dir_name_in_cwd"].(string)
		local := mp != "" && (filepath.Clean(mp) == filepath.Clean(inCwd) || isDir(findDir(mp, runDir, filepath.Dir(runDir))))
		m.FromLinearHead = !local
	}
	m.LPEarlyStopping = a.bool("lp_early_stopping") && (kind == LP || m.FromLinearHead)

	o := &r.Optim
	switch name := a.str("optimizer"); name {
	case "adam":
		o.Name = AdamW
	default:
		o.Name = Optimizer(name)
	}
	o.Schedule = Schedule(a.str("lr_scheduler_type"))
	if kind == MeZO && !m.TrainerOptim {
		// The reference's plain MeZO step ignores --optimizer and the
		// schedule: it is SGD at the raw learning rate (MEZO_SPEC §4.2).
		o.Name, o.Schedule = SGD, ScheduleConstant
	}
	o.LR = a.float("learning_rate")
	o.WeightDecay = a.float("weight_decay")
	o.AdamBeta1 = a.float("adam_beta1")
	o.AdamBeta2 = a.float("adam_beta2")
	o.AdamEpsilon = a.float("adam_epsilon")
	o.WarmupSteps = a.int("warmup_steps")
	o.WarmupRatio = a.float("warmup_ratio")
	o.MaxGradNorm = a.float("max_grad_norm")
	o.BatchSize = a.int("per_device_train_batch_size")
	o.GradientAccumulationSteps = a.int("gradient_accumulation_steps")
	o.DropLast = a.bool("dataloader_drop_last")
	o.MaxSteps = max(0, a.int("max_steps")) // HF's -1: train for the epochs
	o.MaxZOForwardSteps = a.int("max_zo_forward_steps")
	o.Epochs = a.float("num_train_epochs")
	o.Seed = a.int("seed")

	e := &r.Eval
	e.Steps = a.int("eval_steps")
	e.BatchSize = a.int("per_device_eval_batch_size")
	e.DuringTraining = a.bool("evaluate_during_training")
	e.DoEval = a.bool("do_eval")
	e.DoPredict = a.bool("do_predict")
	e.LoggingSteps = a.int("logging_steps")
	e.Objective = ObjectiveAuto

	r.Output.Dir = a.str("output_dir")
	r.Output.Overwrite = a.bool("overwrite_output_dir")
	r.Output.SaveFinal = a.bool("save_at_last")
	r.Runtime = Runtime{Device: "cpu", ZStream: ZTorch, Precision: FP32}

	if len(a.errs) > 0 {
		return nil, errors.Join(a.errs...)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("recipe: %s: the reference run's recipe does not validate: %w", path, err)
	}
	return &r, nil
}

// isDir reports whether p is a directory.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// findDir returns the first of base/rel that is a directory, or rel.
func findDir(rel string, bases ...string) string {
	if rel == "" || filepath.IsAbs(rel) {
		return rel
	}
	for _, b := range bases {
		p := filepath.Join(b, rel)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
	}
	return rel
}

// refArgs reads the reference's arguments, collecting type errors.
type refArgs struct {
	file string
	m    map[string]any
	argv []string
	errs []error
}

func (a *refArgs) fail(key, format string, args ...any) {
	a.errs = append(a.errs, &FieldError{File: a.file, Path: key, Msg: fmt.Sprintf(format, args...)})
}

// get returns the argument, or the reference's default when absent. A
// store_true flag left out of the parsed arguments but present in argv
// (overwrite_output_dir in the fixtures) counts as given.
func (a *refArgs) get(key string) any {
	if v, ok := a.m[key]; ok {
		return v
	}
	if d, ok := runPyDefaults[key]; ok {
		if d == false && slices.Contains(a.argv, "--"+key) {
			return true
		}
		return d
	}
	a.fail(key, "internal error: no reference default")
	return nil
}

func (a *refArgs) str(key string) string {
	switch v := a.get(key).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		a.fail(key, "expected a string, got %v", v)
		return ""
	}
}

func (a *refArgs) bool(key string) bool {
	switch v := a.get(key).(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		a.fail(key, "expected a boolean, got %v", v)
		return false
	}
}

func (a *refArgs) float(key string) float64 {
	switch v := a.get(key).(type) {
	case nil:
		return 0
	case float64:
		return v
	default:
		a.fail(key, "expected a number, got %v", v)
		return 0
	}
}

// int reads an integer argument; None reads as 0 (the limits' "off").
func (a *refArgs) int(key string) int {
	f := a.float(key)
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		a.fail(key, "expected an integer, got %v", f)
		return 0
	}
	return int(f)
}

// sameArg reports whether a JSON value equals an "off" value (None and
// false/""/0 are told apart, as Python would).
func sameArg(v, off any) bool {
	if v == nil || off == nil {
		return v == nil && off == nil
	}
	return reflect.DeepEqual(v, off)
}
