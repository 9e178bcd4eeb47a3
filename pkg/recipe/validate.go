package recipe

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// problems collects FieldErrors.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// oneOf checks that v is one of the allowed values.
func oneOf[T ~string](p *problems, path string, v T, allowed ...T) {
	if slices.Contains(allowed, v) {
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	if v == "" {
		p.add(path, "required: one of %s", strings.Join(names, ", "))
		return
	}
	p.add(path, "expected one of %s, got %q", strings.Join(names, ", "), string(v))
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func (p *problems) nonNegative(path string, f float64) {
	if !finite(f) || f < 0 {
		p.add(path, "expected a finite number ≥ 0, got %v", f)
	}
}

func (p *problems) atLeast(path string, v, lo int) {
	if v < lo {
		p.add(path, "expected an integer ≥ %d, got %d", lo, v)
	}
}

var cudaDevice = regexp.MustCompile(`^cuda(:[0-9]+)?$`)

// Validate reports every problem of the recipe at once, joined; each is a
// *FieldError naming the field's YAML path (Problems lists them). It does
// not look at the file system (see CheckPaths).
func (r *Recipe) Validate() error {
	var p problems
	m, t, me, o, e := &r.Model, &r.Task, &r.Method, &r.Optim, &r.Eval
	training := me.Kind == MeZO || me.Kind == FT

	// model
	switch pt := m.Pretrain; {
	case pt.Preset != "" && strings.TrimSpace(m.Path) != "":
		p.add("model.path", "%s and model.pretrain.preset %s both name the model: give one", m.Path, pt.Preset)
	case pt.Preset != "":
		if pt.Steps < 1 {
			p.add("model.pretrain.steps", "want ≥ 1, got %d", pt.Steps)
		}
		if pt.BatchSize < 1 {
			p.add("model.pretrain.batch_size", "want ≥ 1, got %d", pt.BatchSize)
		}
		if !(pt.LR > 0) || math.IsInf(pt.LR, 0) {
			p.add("model.pretrain.lr", "want a positive learning rate, got %v", pt.LR)
		}
		if m.InitState != "" {
			p.add("model.init_state", "a pre-trained preset (model.pretrain.preset %s) starts from its own weights", pt.Preset)
		}
	case pt != Pretrain{}:
		p.add("model.pretrain.preset", "required when model.pretrain sets anything (the preset to pre-train, e.g. tiny)")
	case strings.TrimSpace(m.Path) == "":
		p.add("model.path", "required: a Hugging Face model directory or cache name (e.g. --set model.path=roberta-large), or model.pretrain.preset")
	}
	oneOf(&p, "model.head", m.Head, HeadPrompt, HeadClassification)
	oneOf(&p, "model.dtype", m.DType, Float32, Float64, BFloat16, Float16)
	decoder := r.validateFamily(&p)

	// task
	task, err := lmbff.LookupTask(t.Name)
	if decoder {
		// large_models' tasks and prompts (validateFamily checked them).
	} else if t.Name == "" {
		p.add("task.name", "required: one of %s", strings.Join(lmbff.TaskNames(), ", "))
	} else if err != nil {
		p.add("task.name", "unknown task %q (known: %s)", t.Name, strings.Join(lmbff.TaskNames(), ", "))
	}
	if strings.TrimSpace(t.DataDir) == "" {
		p.add("task.data_dir", "required: the k-shot split directory (e.g. --set task.data_dir=data/k-shot-1k-test/SST-2/16-42)")
	}
	mode, err := lmbff.ParseMode(string(t.FewShotType))
	if decoder {
		// validateFamily refused every mode but prompt.
	} else if err != nil {
		oneOf(&p, "task.few_shot_type", t.FewShotType, lmbff.ModePrompt, lmbff.ModePromptDemo, lmbff.ModeFinetune)
	} else {
		wantHead := HeadPrompt
		if mode == lmbff.ModeFinetune {
			wantHead = HeadClassification
		}
		if (m.Head == HeadPrompt || m.Head == HeadClassification) && m.Head != wantHead {
			p.add("model.head", "few_shot_type %s needs the %s head, got %s", mode, wantHead, m.Head)
		}
		if mode.Prompt() && task != nil {
			checkPrompt(&p, t, task)
		}
	}
	p.atLeast("task.max_seq_length", t.MaxSeqLength, 1)
	p.atLeast("task.first_sent_limit", t.FirstSentLimit, 0)
	p.atLeast("task.other_sent_limit", t.OtherSentLimit, 0)
	p.atLeast("task.num_sample", t.NumSample, 1)
	p.atLeast("task.num_demo", t.NumDemo, 0)
	p.atLeast("task.num_k", t.NumK, 0)

	// method
	oneOf(&p, "method.kind", me.Kind, MeZO, FT, ZeroShot, LP)
	oneOf(&p, "method.seed_stream", me.SeedStream, SeedSimple, SeedReferenceData)
	oneOf(&p, "method.sample_schedule", me.SampleSchedule, SamplesNone, SamplesConstant, SamplesLinear)
	oneOf(&p, "method.loss", me.Loss, LossCE, LossNegAcc)
	oneOf(&p, "method.zo_variant", me.ZOVariant, VariantNone, VariantGradNorm, VariantParamNorm)
	validateVariant(&p, me)
	if me.Kind == MeZO {
		if !finite(me.Eps) || me.Eps <= 0 {
			p.add("method.eps", "expected a finite number > 0, got %v", me.Eps)
		}
		p.atLeast("method.samples", me.Samples, 1)
		if me.Samples > 1 && me.SampleSchedule == SamplesNone {
			p.add("method.samples", "n-SPSA with %d samples needs method.sample_schedule constant or linear (the reference ignores samples without one)", me.Samples)
		}
		if !me.TrainerOptim {
			// The reference's MeZO step without the trainer optimizer is
			// plain SGD at a constant rate (MEZO_SPEC §4.2).
			need := "needs method.trainer_optim: true (the plain MeZO step is SGD at a constant learning rate)"
			if o.Name != SGD {
				p.add("optim.name", "%s %s", o.Name, need)
			}
			if o.Schedule != ScheduleConstant {
				p.add("optim.schedule", "%s %s", o.Schedule, need)
			}
			if me.SampleSchedule != SamplesNone {
				p.add("method.sample_schedule", "n-SPSA %s", need)
			}
			if o.GradientAccumulationSteps != 1 {
				// Efficient or stored z, the inline update has no gradient
				// buffer to accumulate into.
				p.add("optim.gradient_accumulation_steps", "gradient accumulation needs method.trainer_optim: true: the inline MeZO update has no gradient buffer to accumulate into (the reference asserts gradient_accumulation_steps == 1 there, trainer.py:623-625 and 713)")
			}
			if me.ClipGrad {
				p.add("method.clip_grad", "clipping %s", need)
			}
			if me.FreshBatchPerSample {
				p.add("method.fresh_batch_per_sample", "n-SPSA %s", need)
			}
			if o.Momentum != 0 {
				p.add("optim.momentum", "momentum %s", need)
			}
		}
	} else if me.Loss != LossCE && (me.Kind == FT || me.Kind == ZeroShot || me.Kind == LP) {
		p.add("method.loss", "%s needs a zeroth-order method (method.kind mezo); %s trains with ce", me.Loss, me.Kind)
	}

	// optim
	oneOf(&p, "optim.name", o.Name, SGD, AdamW, TorchAdam, TorchAdamW)
	p.nonNegative("optim.momentum", o.Momentum)
	p.nonNegative("optim.dampening", o.Dampening)
	if (o.Momentum != 0 || o.Nesterov || o.Dampening != 0) && o.Name != SGD {
		p.add("optim.momentum", "momentum, dampening and nesterov are sgd's; optim.name is %s", o.Name)
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		p.add("optim.nesterov", "Nesterov momentum needs optim.momentum > 0 and optim.dampening 0")
	}
	oneOf(&p, "optim.schedule", o.Schedule, ScheduleConstant, ScheduleLinear, ScheduleConstantWithWarmup)
	p.nonNegative("optim.lr", o.LR)
	p.nonNegative("optim.weight_decay", o.WeightDecay)
	for _, b := range []struct {
		path string
		v    float64
	}{{"optim.adam_beta1", o.AdamBeta1}, {"optim.adam_beta2", o.AdamBeta2}} {
		if !(b.v >= 0 && b.v < 1) {
			p.add(b.path, "expected a number in [0, 1), got %v", b.v)
		}
	}
	if !finite(o.AdamEpsilon) || o.AdamEpsilon <= 0 {
		p.add("optim.adam_epsilon", "expected a finite number > 0, got %v", o.AdamEpsilon)
	}
	p.atLeast("optim.warmup_steps", o.WarmupSteps, 0)
	if !(o.WarmupRatio >= 0 && o.WarmupRatio <= 1) {
		p.add("optim.warmup_ratio", "expected a number in [0, 1], got %v", o.WarmupRatio)
	}
	p.nonNegative("optim.max_grad_norm", o.MaxGradNorm)
	p.atLeast("optim.batch_size", o.BatchSize, 1)
	p.atLeast("optim.gradient_accumulation_steps", o.GradientAccumulationSteps, 1)
	p.atLeast("optim.max_steps", o.MaxSteps, 0)
	p.atLeast("optim.max_zo_forward_steps", o.MaxZOForwardSteps, 0)
	p.nonNegative("optim.epochs", o.Epochs)
	if training && o.MaxSteps == 0 && o.Epochs == 0 {
		p.add("optim.max_steps", "training needs a budget: optim.max_steps or optim.epochs must be > 0")
	}
	if o.Seed < 0 || o.Seed > math.MaxUint32 {
		p.add("optim.seed", "expected an integer in [0, 2^32) (numpy's seed range), got %d", o.Seed)
	}

	// eval
	p.atLeast("eval.batch_size", e.BatchSize, 1)
	p.atLeast("eval.logging_steps", e.LoggingSteps, 0)
	if e.DuringTraining && training && e.Steps <= 0 {
		p.add("eval.steps", "evaluating during training needs eval.steps > 0, got %d", e.Steps)
	} else {
		p.atLeast("eval.steps", e.Steps, 0)
	}
	if e.Objective != ObjectiveAuto && !slices.Contains(objectives, e.Objective) {
		p.add("eval.objective", "expected %s or one of %s, got %q", ObjectiveAuto, strings.Join(objectives, ", "), e.Objective)
	}
	if me.Kind == ZeroShot && !e.DoEval && !e.DoPredict {
		p.add("eval.do_eval", "zero-shot only evaluates: set eval.do_eval or eval.do_predict")
	}

	// output
	if strings.TrimSpace(r.Output.Dir) == "" {
		p.add("output.dir", "required")
	}
	p.atLeast("output.checkpoint_every", r.Output.CheckpointEvery, 0)

	// runtime
	if d := r.Runtime.Device; d != "cpu" && !cudaDevice.MatchString(d) {
		p.add("runtime.device", "expected cpu, cuda or cuda:N, got %q", d)
	}
	p.atLeast("runtime.threads", r.Runtime.Threads, 0)
	p.atLeast("runtime.interop_threads", r.Runtime.InteropThreads, 0)
	oneOf(&p, "runtime.z_stream", r.Runtime.ZStream, ZTorch, ZPhilox)
	oneOf(&p, "runtime.precision", r.Runtime.Precision, FP32, BF16, FP16)
	if (r.Runtime.Precision == BF16 || r.Runtime.Precision == FP16) && r.Runtime.Device == "cpu" {
		p.add("runtime.precision", "%s runs the forward passes under CUDA autocast; on the CPU libtorch 1.13 has no half-precision kernels for these ops: use fp32 (or runtime.device: cuda)", r.Runtime.Precision)
	}
	if r.Runtime.Precision == FP16 && me.Kind == FT {
		p.add("runtime.precision", "fp16 fine-tuning needs loss scaling, which mezo run does not do: use bf16 (or fp32)")
	}

	// the reference switch
	if r.Reference {
		if me.SeedStream != SeedReferenceData {
			p.add("method.seed_stream", "reference: true uses the %s stream, got %s", SeedReferenceData, me.SeedStream)
		}
		if r.Runtime.ZStream != ZTorch {
			p.add("runtime.z_stream", "reference: true draws z from the %s stream, got %s", ZTorch, r.Runtime.ZStream)
		}
	}
	r.validatePEFT(&p)
	return errors.Join(p...)
}

// checkPrompt checks the template and mapping of a prompt mode for a known
// task.
func checkPrompt(p *problems, t *Task, task *lmbff.Task) {
	if t.Template == "" {
		p.add("task.template", "required in %s mode", t.FewShotType)
	} else if tm, err := lmbff.ParseTemplate(t.Template); err != nil {
		p.add("task.template", "%v", err)
	} else if !tm.HasMask() {
		p.add("task.template", "a prompt template needs *mask*, got %q", t.Template)
	}
	if t.Mapping == "" {
		p.add("task.mapping", "required in %s mode", t.FewShotType)
		return
	}
	mp, err := lmbff.ParseMapping(t.Mapping)
	if err != nil {
		p.add("task.mapping", "%v", err)
		return
	}
	labels := task.Labels
	if task.Regression {
		labels = []string{"0", "1"}
	}
	for _, k := range mp.Keys {
		if !slices.Contains(labels, k) {
			p.add("task.mapping", "%s has no label %q (labels: %s)", task.Name, k, strings.Join(labels, ", "))
		}
	}
	for _, l := range labels {
		if _, ok := mp.Words[l]; !ok {
			p.add("task.mapping", "no word for %s label %q", task.Name, l)
		}
	}
}

// CheckPaths reports the input paths that do not exist, each naming its
// field: task.data_dir must be a directory, model.init_state a file, and
// model.path a directory unless it is a bare cache name such as
// roberta-large or FacebookAI/roberta-large (no leading ".", "/" or "~"
// and not found on disk), which the model loader resolves.
func (r *Recipe) CheckPaths() error {
	var p problems
	isDir := func(path string) bool { st, err := os.Stat(path); return err == nil && st.IsDir() }
	if d := r.Task.DataDir; d != "" && !isDir(d) {
		p.add("task.data_dir", "%s is not a directory", d)
	}
	if s := r.Model.InitState; s != "" {
		if st, err := os.Stat(s); err != nil || st.IsDir() {
			p.add("model.init_state", "%s is not a file", s)
		}
	}
	if mp := r.Model.Path; mp != "" && !isDir(mp) && strings.ContainsAny(mp[:1], "./~") {
		p.add("model.path", "%s is not a directory", mp)
	}
	return errors.Join(p...)
}

// validateVariant checks the ZO variant fields (MEZO_SPEC §4.6).
func validateVariant(p *problems, me *Method) {
	on := me.ZOVariant == VariantGradNorm || me.ZOVariant == VariantParamNorm
	if !on {
		for _, f := range []struct {
			path string
			set  bool
		}{{"method.use_zo_grad_est", me.UseZOGradEst}, {"method.recompute_norms", me.RecomputeNorms},
			{"method.scale_norm_by_num_params", me.ScaleNormByNumParams}, {"method.norm_running_update", me.NormRunningUpdate},
			{"method.change_grad_estimate", me.ChangeGradEstimate}} {
			if f.set {
				p.add(f.path, "needs method.zo_variant grad_norm or param_norm")
			}
		}
		return
	}
	if me.Kind != MeZO {
		p.add("method.zo_variant", "needs method.kind mezo, got %s", me.Kind)
	}
	if me.Efficient {
		p.add("method.efficient", "method.zo_variant %s needs efficient: false (the reference's efficient path ignores d_c in the perturbation but not in the gradient)", me.ZOVariant)
	}
	if me.ZOVariant == VariantParamNorm && (me.UseZOGradEst || me.NormRunningUpdate) {
		p.add("method.zo_variant", "param_norm takes d_c from the parameters: use_zo_grad_est and norm_running_update are grad_norm's")
	}
}
