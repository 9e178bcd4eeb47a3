package recipe

import "github.com/gomezo/gomezo/pkg/data/lmbff"

// Recipe is one run: the model, the data, the method and its optimizer, the
// evaluation schedule, where the outputs go and what it runs on. Every field
// is a plain value, so recipes compare with == and a resolved recipe
// marshals to YAML that decodes back to an equal one.
type Recipe struct {
	// Name identifies the run; it defaults to the file's base name without
	// its extension.
	Name string `yaml:"name"`
	// Description is free text.
	Description string `yaml:"description,omitempty"`
	// Reference turns on every bit-level behaviour of the reference
	// implementation (see Quirks), and makes the seed and z streams default
	// to the reference's.
	Reference bool `yaml:"reference"`

	Model   Model   `yaml:"model"`
	Task    Task    `yaml:"task"`
	Method  Method  `yaml:"method"`
	Optim   Optim   `yaml:"optim"`
	Eval    Eval    `yaml:"eval"`
	Output  Output  `yaml:"output"`
	Runtime Runtime `yaml:"runtime"`
	PEFT    PEFT    `yaml:"peft"`
	// LargeModels is large_models' data and loss settings (model.family
	// opt only).
	LargeModels LargeModels `yaml:"largemodels"`
}

// Model says which weights to start from and how to run them.
type Model struct {
	// Family is roberta (MeZO's medium_models: LM-BFF prompts) or opt
	// (large_models: a decoder scoring candidates; see LargeModels). It
	// must agree with the model's config.json model_type.
	Family Family `yaml:"family"`
	// Path is a Hugging Face model directory or a name in the Hugging Face
	// cache (the reference's --model_name_or_path). Required.
	Path string `yaml:"path"`
	// InitState is a safetensors file holding a full state dict of the
	// model as built (head included) that replaces the weights after
	// loading; "" keeps the checkpoint's weights and initialises missing
	// head weights. The reference-run fixtures start from such a state.
	InitState string `yaml:"init_state"`
	// Head is the output head: prompt (the MLM head scored at <mask> over
	// the label words) or classification (a randomly initialised
	// RobertaClassificationHead on <s>). It follows task.few_shot_type
	// unless given, and must agree with it.
	Head Head `yaml:"head"`
	// DType is the parameter and compute dtype.
	DType DType `yaml:"dtype"`
	// TrainDropout applies the model config's dropout in fine-tuning's
	// training forwards, as the reference does. MeZO's forwards and every
	// evaluation run in eval mode (no dropout) whatever this says.
	TrainDropout bool `yaml:"train_dropout"`
	// Pretrain, when its preset is set, builds the model instead of
	// loading one (model.path stays empty): a tiny RoBERTa pre-trained
	// briefly on generated text (pkg/pretrain), the quickstart's model.
	Pretrain Pretrain `yaml:"pretrain,omitempty"`
}

// Pretrain is a model pre-trained by gomezo itself with masked-LM backprop
// on pkg/data/synth's generated review text: a demonstration model, not a
// language model (pkg/pretrain's doc). Cached in CacheDir by its settings.
type Pretrain struct {
	// Preset is the model shape (tiny); "" means no pre-training.
	Preset string `yaml:"preset,omitempty"`
	// Steps, BatchSize and LR are the masked-LM budget: AdamW with a
	// linear schedule.
	Steps     int     `yaml:"steps,omitempty"`
	BatchSize int     `yaml:"batch_size,omitempty"`
	LR        float64 `yaml:"lr,omitempty"`
	// Seed draws the corpus, the initial weights, the masks and dropout.
	Seed int `yaml:"seed,omitempty"`
	// CacheDir holds pre-trained models; "" is the user cache directory's
	// gomezo/pretrain ($XDG_CACHE_HOME or ~/.cache).
	CacheDir string `yaml:"cache_dir,omitempty"`
}

// Task is the data: which task, where its k-shot split is, and how
// examples become model inputs (the reference's data arguments).
type Task struct {
	// Name is the task as its data folder spells it (SST-2, sst-5, SNLI,
	// MNLI, RTE, trec, ...; see lmbff.TaskNames). The reference's
	// lower-cased task_name is accepted and rewritten to this spelling.
	Name string `yaml:"name"`
	// DataDir is the k-shot split directory (train, dev and test files).
	// Required.
	DataDir string `yaml:"data_dir"`
	// FewShotType is prompt, prompt-demo or finetune.
	FewShotType lmbff.Mode `yaml:"few_shot_type"`
	// Template is the LM-BFF template; the task's run_fewshot.sh template
	// unless given. Quote it in YAML: a leading * is an alias otherwise.
	Template string `yaml:"template"`
	// Mapping is the label-to-word mapping as a Python dict literal, e.g.
	// "{'0':'terrible','1':'great'}"; the task's unless given.
	Mapping string `yaml:"mapping"`
	// MaxSeqLength caps the encoded length; the task's (128, or 256 for
	// the NLI tasks) unless given.
	MaxSeqLength int `yaml:"max_seq_length"`
	// FirstSentLimit and OtherSentLimit cut sentence 0, and every other
	// sentence, to that many tokens; 0 is no limit. The task's unless
	// given.
	FirstSentLimit int `yaml:"first_sent_limit"`
	OtherSentLimit int `yaml:"other_sent_limit"`
	// TruncateHead keeps the last max_seq_length tokens instead of the
	// first (prompt-demo only, as in the reference).
	TruncateHead bool `yaml:"truncate_head"`
	// DoubleDemo doubles max_seq_length in prompt-demo mode; the task's
	// unless given.
	DoubleDemo bool `yaml:"double_demo"`
	// NumSample is the number of demonstration draws per dev/test example
	// in prompt-demo mode (their logits are averaged); the task's unless
	// given.
	NumSample int `yaml:"num_sample"`
	// NumDemo is recorded only: the reference ignores it (one
	// demonstration per label).
	NumDemo int `yaml:"num_demo"`
	// AutoDemo extends the template with one demonstration block per
	// label in prompt-demo mode.
	AutoDemo bool `yaml:"auto_demo"`
	// NumK is k, the examples per class of the split; recorded only.
	NumK int `yaml:"num_k"`
}

// Method is the training method and the zeroth-order estimator's settings.
type Method struct {
	// Kind is mezo, ft, zero-shot (no training: evaluate the model as
	// loaded) or lp (linear probing).
	Kind Kind `yaml:"kind"`
	// Eps is ε, the perturbation scale (zero_order_eps).
	Eps float64 `yaml:"eps"`
	// SeedStream says where step seeds come from: simple (numpy's
	// RandomState seeded by optim.seed, one randint(1e9) per step) or
	// reference-data (the same, with the reference's dataset draws
	// interleaved). It defaults to reference-data when reference is true.
	SeedStream SeedStream `yaml:"seed_stream"`
	// Efficient regenerates z from the step seed at every pass (MeZO,
	// efficient_zero_order); false stores z for the step (the reference's
	// non-efficient path, one extra copy of the parameters).
	Efficient bool `yaml:"efficient"`
	// TrainerOptim writes the estimate into the gradients and lets
	// optim.name and optim.schedule take the step
	// (zero_order_use_trainer_optim). Required for n-SPSA, gradient
	// accumulation, clipping, AdamW and schedules.
	TrainerOptim bool `yaml:"trainer_optim"`
	// Samples is n of n-SPSA (zero_order_sample); it needs a
	// sample_schedule other than none.
	Samples int `yaml:"samples"`
	// SampleSchedule is none, constant (n every step) or linear
	// (max(1, ⌊t·n/T⌋)) (zero_order_sample_scheduler).
	SampleSchedule SampleSchedule `yaml:"sample_schedule"`
	// ScaleLRWithSamples sums the n estimates instead of averaging them.
	ScaleLRWithSamples bool `yaml:"scale_lr_with_samples"`
	// ClipGrad clips the estimate's norm to optim.max_grad_norm
	// (zero_order_clip_grad; trainer_optim only).
	ClipGrad bool `yaml:"clip_grad"`
	// Loss is the training objective: ce (cross-entropy) or neg-acc (minus
	// the batch accuracy, the reference's --optimize_acc; mezo only).
	Loss Loss `yaml:"loss"`
	// FromLinearHead runs linear probing on the training set before
	// training and starts from the probed head (LP-MeZO; the reference's
	// --from_linearhead).
	FromLinearHead bool `yaml:"from_linearhead"`
	// LPEarlyStopping fits the probe with max_iter 1000 and tol 1e-2
	// instead of 5000 and 1e-4 (--lp_early_stopping).
	LPEarlyStopping bool `yaml:"lp_early_stopping"`
	// FreshBatchPerSample gives every n-SPSA sample its own batch (the
	// paper's Algorithm 2), drawn at random from the training set; off, all
	// samples of a step share the step's batch, as the reference does.
	FreshBatchPerSample bool `yaml:"fresh_batch_per_sample"`
	// ZOVariant is none, grad_norm or param_norm: variance-modified SPSA
	// (zo_variant, MeZO App. B) with per-group scales d_c over embed,
	// lm_head and layer.0. … layer.N-1.; perturbations use z/d_c. It needs
	// efficient: false (the stored-z path).
	ZOVariant ZOVariant `yaml:"zo_variant"`
	// UseZOGradEst estimates grad_norm's d_c with one ±ε pair per group
	// (two counted forwards each) instead of one backprop pass.
	UseZOGradEst bool `yaml:"use_zo_grad_est"`
	// RecomputeNorms recomputes d_c on the first batch of every epoch (the
	// reference: only at the first step otherwise).
	RecomputeNorms bool `yaml:"recompute_norms"`
	// ScaleNormByNumParams divides d_c by √(parameters of the group).
	ScaleNormByNumParams bool `yaml:"scale_norm_by_num_params"`
	// NormRunningUpdate is the reference's d_c ← |projected gradient| of
	// zo_by_layer (grad_norm only); mezo run refuses it (pkg/train says why).
	NormRunningUpdate bool `yaml:"norm_running_update"`
	// ChangeGradEstimate is expectation-modified SPSA: the gradient uses z
	// rather than d_c·z (trainer_optim only, as in the reference).
	ChangeGradEstimate bool `yaml:"change_grad_estimate"`
}

// Optim is the optimizer, its schedule, the batch and the training budget.
type Optim struct {
	// Name is sgd (torch.optim.SGD, no momentum) or adamw
	// (transformers.AdamW, the reference's --optimizer adam).
	Name Optimizer `yaml:"name"`
	// LR is the learning rate (learning_rate).
	LR          float64 `yaml:"lr"`
	WeightDecay float64 `yaml:"weight_decay"`
	AdamBeta1   float64 `yaml:"adam_beta1"`
	AdamBeta2   float64 `yaml:"adam_beta2"`
	AdamEpsilon float64 `yaml:"adam_epsilon"`
	// Schedule is constant, linear (decay to 0 at the last step) or
	// constant_with_warmup (lr_scheduler_type).
	Schedule Schedule `yaml:"schedule"`
	// WarmupSteps, or when 0 ⌈WarmupRatio·max_steps⌉, warm the schedule up.
	WarmupSteps int     `yaml:"warmup_steps"`
	WarmupRatio float64 `yaml:"warmup_ratio"`
	// MaxGradNorm clips fine-tuning's gradient (always, as the reference)
	// and, with method.clip_grad, the ZO estimate; 0 turns clipping off.
	MaxGradNorm float64 `yaml:"max_grad_norm"`
	// BatchSize is the training batch (per_device_train_batch_size).
	BatchSize int `yaml:"batch_size"`
	// GradientAccumulationSteps is the micro-batches per update (fine-tuning
	// and method.trainer_optim; windows as Quirks.AccumulationWindows says).
	GradientAccumulationSteps int  `yaml:"gradient_accumulation_steps"`
	DropLast                  bool `yaml:"drop_last"`
	// MaxSteps is the number of optimizer steps; 0 trains for Epochs.
	MaxSteps int `yaml:"max_steps"`
	// MaxZOForwardSteps stops MeZO once its forward passes exceed this
	// many; 0 is no limit.
	MaxZOForwardSteps int `yaml:"max_zo_forward_steps"`
	// Epochs is num_train_epochs, used when MaxSteps is 0.
	Epochs float64 `yaml:"epochs"`
	// Seed seeds the run: data order, head initialisation, step seeds.
	// The reference uses the split's seed.
	Seed int `yaml:"seed"`
	// Momentum, Dampening and Nesterov configure sgd's momentum
	// (torch.optim.SGD's; the README's ZO-Momentum, which the reference
	// never built: its --momentum flag does not exist). Momentum 0 is the
	// reference's plain SGD.
	Momentum  float64 `yaml:"momentum"`
	Dampening float64 `yaml:"dampening"`
	Nesterov  bool    `yaml:"nesterov"`
}

// Eval is the evaluation schedule and model selection.
type Eval struct {
	// Steps is the dev evaluation interval (eval_steps), in optimizer
	// steps.
	Steps int `yaml:"steps"`
	// BatchSize is per_device_eval_batch_size.
	BatchSize int `yaml:"batch_size"`
	// DuringTraining evaluates dev every Steps steps and keeps the best
	// (evaluate_during_training).
	DuringTraining bool `yaml:"during_training"`
	// DoEval and DoPredict evaluate dev and test at the end.
	DoEval    bool `yaml:"do_eval"`
	DoPredict bool `yaml:"do_predict"`
	// LoggingSteps is the training log interval; 0 logs nothing.
	LoggingSteps int `yaml:"logging_steps"`
	// AtStart evaluates dev before the first step (an eval line with step
	// 0 in metrics.jsonl, result.json's dev_at_start): the prompt's
	// zero-shot score, against which training's gain reads.
	AtStart bool `yaml:"at_start"`
	// Objective is the dev metric that picks the best model: auto (the
	// reference's order: mnli/acc, mnli-mm/acc, f1, mcc, pearson, acc) or
	// one of those names.
	Objective string `yaml:"objective"`
}

// Output says where the run writes and what it keeps.
type Output struct {
	// Dir is the run directory; runs/<name> unless given.
	Dir string `yaml:"dir"`
	// Overwrite allows writing into an existing, non-empty Dir.
	Overwrite bool `yaml:"overwrite"`
	// SaveBest writes the best dev model's state to Dir.
	SaveBest bool `yaml:"save_best"`
	// SaveFinal writes the final model's state to Dir (save_at_last).
	SaveFinal bool `yaml:"save_final"`
	// CheckpointEvery writes a resumable checkpoint every that many
	// steps; 0 never.
	CheckpointEvery int `yaml:"checkpoint_every"`
}

// Runtime is the machine side: device, threads, the z generator.
type Runtime struct {
	// Device is cpu, cuda or cuda:N.
	Device string `yaml:"device"`
	// Threads and InteropThreads set libtorch's intra- and inter-op
	// thread counts; 0 leaves libtorch's default.
	Threads        int `yaml:"threads"`
	InteropThreads int `yaml:"interop_threads"`
	// ZStream is the generator z is drawn from: torch (bit-exact with the
	// reference on CPU) or philox (counter-based, the same on every
	// device).
	ZStream ZStream `yaml:"z_stream"`
	// Precision is the forward passes' arithmetic: fp32, or bf16/fp16 under
	// CUDA autocast with fp32 master weights (perturbed and updated in
	// fp32). CUDA only: libtorch 1.13's CPU build has no half kernels for
	// these ops.
	Precision Precision `yaml:"precision"`
}

// Kind is a training method.
type Kind string

// The methods.
const (
	MeZO     Kind = "mezo"
	FT       Kind = "ft"
	ZeroShot Kind = "zero-shot"
)

// Head is a model output head.
type Head string

// The heads.
const (
	HeadPrompt         Head = "prompt"
	HeadClassification Head = "classification"
)

// DType is a floating-point type.
type DType string

// The dtypes.
const (
	Float32  DType = "float32"
	Float64  DType = "float64"
	BFloat16 DType = "bfloat16"
	Float16  DType = "float16"
)

// SeedStream is where step seeds come from.
type SeedStream string

// The seed streams.
const (
	SeedSimple        SeedStream = "simple"
	SeedReferenceData SeedStream = "reference-data"
)

// SampleSchedule is the n-SPSA sample schedule.
type SampleSchedule string

// The sample schedules.
const (
	SamplesNone     SampleSchedule = "none"
	SamplesConstant SampleSchedule = "constant"
	SamplesLinear   SampleSchedule = "linear"
)

// Loss is a training objective.
type Loss string

// The training objectives.
const (
	LossCE     Loss = "ce"
	LossNegAcc Loss = "neg-acc"
)

// Optimizer names an optimizer.
type Optimizer string

// The optimizers.
const (
	SGD   Optimizer = "sgd"
	AdamW Optimizer = "adamw"
	// TorchAdam and TorchAdamW are libtorch's own torch::optim::Adam
	// (coupled L2 decay) and torch::optim::AdamW (decoupled).
	TorchAdam  Optimizer = "torch-adam"
	TorchAdamW Optimizer = "torch-adamw"
)

// ZOVariant is a variance-modified SPSA variant.
type ZOVariant string

// The variants.
const (
	VariantNone      ZOVariant = "none"
	VariantGradNorm  ZOVariant = "grad_norm"
	VariantParamNorm ZOVariant = "param_norm"
)

// Schedule is a learning-rate schedule, named as the reference's
// lr_scheduler_type.
type Schedule string

// The schedules.
const (
	ScheduleConstant           Schedule = "constant"
	ScheduleLinear             Schedule = "linear"
	ScheduleConstantWithWarmup Schedule = "constant_with_warmup"
)

// Precision is the arithmetic of the forward passes.
type Precision string

// The precisions.
const (
	FP32 Precision = "fp32"
	BF16 Precision = "bf16"
	FP16 Precision = "fp16"
)

// ZStream is a generator for z.
type ZStream string

// The z streams.
const (
	ZTorch  ZStream = "torch"
	ZPhilox ZStream = "philox"
)

// The dev objectives Eval.Objective accepts besides ObjectiveAuto, in the
// reference's default_dev_objective order.
var objectives = []string{"mnli/acc", "mnli-mm/acc", "f1", "mcc", "pearson", "acc"}

// ObjectiveAuto picks the dev objective as the reference does.
const ObjectiveAuto = "auto"

// Quirks are the reference's bit-level behaviours that a fresh
// implementation would not choose. Each is named once, here; the training
// loop asks Recipe.Quirks instead of looking at Reference. The seed and z
// streams are fields of their own (method.seed_stream, runtime.z_stream):
// their defaults follow reference, and Validate rejects a reference recipe
// that sets them otherwise.
type Quirks struct {
	// RestorePass restores θ after ℓ− with its own +εz pass, then updates
	// in a fourth pass (the reference's +1/−2/+1 sequence, whose restore is
	// not exact in floating point). Off, the restore may be fused into the
	// update pass.
	RestorePass bool
	// StopPastBudget stops after the update that makes global_step exceed
	// max_steps, or the forward count exceed max_zo_forward_steps (the
	// reference's strict tests: max_steps+1 updates when an epoch has
	// several batches that do not divide max_steps, and one update past
	// the forward budget). Off, training stops at exactly max_steps updates
	// and never exceeds the forward budget.
	StopPastBudget bool
	// TrainUnusedHeads perturbs, updates and weight-decays the pooler and
	// the classifier in prompt mode, which the prompt loss never reads (the
	// reference's trainable set, and so its z stream). Off, they are
	// frozen.
	TrainUnusedHeads bool
	// InconsistentVariants reproduces the reference's ZO variants as it
	// computes them: with scale_norm_by_num_params, param_norm's d_c is
	// divided by √d_c instead of √N_c (trainer.py:341); without the trainer
	// optimizer, the update uses the raw z although the perturbation used
	// z/d_c. Off, d_c is ‖θ_c‖/√N_c and the inline update uses z·d_c (or z
	// with change_grad_estimate), the same estimate as the trainer path.
	InconsistentVariants bool
	// AccumulationWindows is the reference's gradient accumulation
	// (trainer.py:416-426, 656-707, 801-819, as Hugging Face 3.0-4.28): an
	// update every GA micro-batches counted from each epoch's start, except
	// that an epoch of at most GA batches is one window; the micro-batches
	// left at an epoch's end keep their gradients into the next epoch's first
	// window; len(batches)//GA updates per epoch; and the stop and
	// evaluation tests run after every micro-batch, so the initial model is
	// evaluated at global step 0 (and can be the best dev model), an
	// unchanged model is re-evaluated after each micro-batch that follows an
	// evaluation step, and the forward budget can stop a run inside a window
	// (its gradients dropped). Off, a window never crosses an epoch (its
	// last, short window updates at the epoch's end, as later Hugging Face
	// versions do: ⌈batches/GA⌉ updates per epoch), and the tests run after
	// updates only. Both divide each micro-batch's loss or estimate by GA.
	AccumulationWindows bool
}

// Quirks resolves the reference switch: every quirk on when Reference is
// true, every one off otherwise.
func (r *Recipe) Quirks() Quirks {
	on := r.Reference
	return Quirks{RestorePass: on, StopPastBudget: on, TrainUnusedHeads: on, InconsistentVariants: on, AccumulationWindows: on}
}
