package recipe

import (
	"path/filepath"
	"strings"

	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// This file is the one place for default values. They are the reference's:
// what its scripts give a run when only the task is chosen. run_fewshot.sh
// sets what every method shares, mezo.sh and finetune.sh what differs by
// method; where a script passes nothing, the value is run.py's or Hugging
// Face TrainingArguments 4.28's default. The exceptions, on purpose, say so.

// Default returns the defaults of a method. An unknown kind gets mezo's
// (Validate then reports the kind). Fields whose default depends on other
// fields (the task's template, mapping and lengths; the head; the seed
// stream; the output directory) are filled by Decode when a recipe does not
// set them; see fillDependent.
func Default(kind Kind) Recipe {
	r := Recipe{
		Model: Model{
			Family:       FamilyRoBERTa,
			DType:        Float32, // the reference's RoBERTa runs are fp32 (MEZO_SPEC §12.12)
			TrainDropout: true,    // FT trains with the config's dropout 0.1 (§6)
		},
		Task: Task{
			FewShotType:  lmbff.ModePrompt, // the scripts' TYPE=prompt; run.py's own default is prompt-demo
			MaxSeqLength: 128,              // run_fewshot.sh; the NLI tasks' 256 come from the task table
			NumSample:    16,               // run.py
			NumDemo:      1,                // run.py (unused by the reference)
			AutoDemo:     true,             // run.py
			NumK:         16,               // run.py; the scripts' K=16
		},
		Method: Method{
			Kind:           kind,
			Eps:            1e-3, // run.py and mezo.sh
			Efficient:      true, // mezo.sh passes --efficient_zero_order
			Samples:        1,    // run.py
			SampleSchedule: SamplesNone,
			Loss:           LossCE,
			ZOVariant:      VariantNone,
		},
		Optim: Optim{
			AdamBeta1:                 0.9,
			AdamBeta2:                 0.999,
			AdamEpsilon:               1e-8,
			MaxGradNorm:               1.0,
			GradientAccumulationSteps: 1,
			Epochs:                    3, // HF; unused when max_steps > 0
			Seed:                      42,
		},
		Eval: Eval{
			BatchSize:      4,    // run_fewshot.sh (HF: 8)
			DuringTraining: true, // run_fewshot.sh (run.py: False)
			DoEval:         true, // run_fewshot.sh
			DoPredict:      true, // run_fewshot.sh
			LoggingSteps:   10,   // run_fewshot.sh (HF: 500)
			Objective:      ObjectiveAuto,
		},
		Output: Output{
			// run_fewshot.sh passes --overwrite_output_dir; we do not
			// overwrite a run unless asked.
			Overwrite: false,
		},
		Runtime: Runtime{
			Device:    "cpu",
			ZStream:   ZPhilox, // reference: true uses torch (fillDependent; ARCHITECTURE.md, decision 3)
			Precision: FP32,
		},
		PEFT: PEFT{
			Kind:                PEFTNone,
			LoRAR:               8,     // the scripts' --lora_r (run.py: None)
			LoRAAlpha:           16,    // the scripts' --lora_alpha (run.py: None)
			NumPrefix:           5,     // the scripts' --num_prefix (run.py: 10)
			PrefixInitByRealAct: true,  // the scripts pass --prefix_init_by_real_act
			PrefixReparam:       false, // the scripts pass --no_reparam
		},
		// large_models (model.family opt): mezo.sh's and finetune.sh's data
		// settings, run.py's max_length, train_as_classification, the mean
		// score, and its BOS fix (id 0).
		LargeModels: LargeModels{
			NumTrain:     1000,
			NumDev:       500,
			NumEval:      1000,
			TrainSetSeed: 0, // the scripts' SEED=0
			Loss:         LMLossClassification,
			Score:        LMScoreMean,
			MaxLength:    2048,
			BOS:          "large_models",
		},
	}
	switch kind {
	case FT, LP: // finetune.sh (and HF's optimizer defaults); LP is finetune.sh with TRAINER=linearhead
		r.Optim.Name = AdamW
		r.Optim.Schedule = ScheduleLinear
		r.Optim.LR = 1e-5
		r.Optim.BatchSize = 8
		r.Optim.MaxSteps = 1000
		r.Eval.Steps = 100
	default: // mezo.sh; zero-shot is mezo.sh with --no_train
		r.Optim.Name = SGD
		r.Optim.Schedule = ScheduleConstant
		r.Optim.LR = 1e-6
		r.Optim.BatchSize = 64
		r.Optim.MaxSteps = 100000
		r.Eval.Steps = 10000
	}
	return r
}

// DefaultPretrain is model.pretrain's budget when a recipe names a preset
// and leaves the rest out: the quickstart's, about half a minute on two CPU
// cores (pkg/pretrain).
var DefaultPretrain = Pretrain{Steps: 300, BatchSize: 32, LR: 5e-3, Seed: 1}

// defaultName is the name of a recipe read from file: its base name
// without the extension.
func defaultName(file string) string {
	base := filepath.Base(file)
	if base == "." || base == string(filepath.Separator) || strings.HasPrefix(file, "--set") || file == "" {
		return "recipe"
	}
	if stem := strings.TrimSuffix(base, filepath.Ext(base)); stem != "" {
		return stem
	}
	return "recipe"
}

// fillDependent sets the fields whose defaults depend on other fields and
// that the recipe did not set (set reports whether a YAML path was given).
func fillDependent(r *Recipe, file string, set func(path string) bool) {
	if !set("name") {
		r.Name = defaultName(file)
	}
	if !set("output.dir") {
		r.Output.Dir = filepath.Join("runs", r.Name)
	}
	if !set("model.head") {
		r.Model.Head = HeadPrompt
		if r.Task.FewShotType == lmbff.ModeFinetune {
			r.Model.Head = HeadClassification
		}
	}
	if p := &r.Model.Pretrain; p.Preset != "" {
		d := DefaultPretrain
		if !set("model.pretrain.steps") {
			p.Steps = d.Steps
		}
		if !set("model.pretrain.batch_size") {
			p.BatchSize = d.BatchSize
		}
		if !set("model.pretrain.lr") {
			p.LR = d.LR
		}
		if !set("model.pretrain.seed") {
			p.Seed = d.Seed
		}
	}
	if !set("runtime.z_stream") && r.Reference {
		r.Runtime.ZStream = ZTorch // the reference's generator, bit-exact on CPU
	}
	if !set("method.seed_stream") {
		r.Method.SeedStream = SeedSimple
		if r.Reference {
			r.Method.SeedStream = SeedReferenceData
		}
	}
	if r.Model.Family == FamilyOPT {
		return // large_models' prompts: no LM-BFF template, mapping or lengths
	}
	// The task's run_fewshot.sh settings (lmbff's task table).
	t, err := lmbff.LookupTask(r.Task.Name)
	if err != nil {
		return // Validate reports it
	}
	r.Task.Name = t.Name
	d := t.Defaults
	if !set("task.template") {
		r.Task.Template = d.Template
	}
	if !set("task.mapping") {
		r.Task.Mapping = d.Mapping
	}
	if !set("task.max_seq_length") {
		r.Task.MaxSeqLength = d.MaxLength
	}
	if !set("task.first_sent_limit") {
		r.Task.FirstSentLimit = d.FirstSentLimit
	}
	if !set("task.other_sent_limit") {
		r.Task.OtherSentLimit = d.OtherSentLimit
	}
	if !set("task.num_sample") {
		r.Task.NumSample = d.NumSample
	}
	if !set("task.double_demo") {
		r.Task.DoubleDemo = d.DoubleDemo
	}
}

// runPyDefaults are the reference's own argument defaults (run.py's
// dataclasses over Hugging Face TrainingArguments 4.28, MEZO_SPEC §2):
// FromReferenceArgs uses them for an argument that an args.json leaves out.
// nil stands for Python's None.
var runPyDefaults = map[string]any{
	// data arguments
	"task_name": nil, "data_dir": nil, "few_shot_type": "prompt-demo",
	"template": nil, "mapping": nil, "max_seq_length": 128.0,
	"first_sent_limit": nil, "other_sent_limit": nil, "truncate_head": false,
	"double_demo": false, "num_sample": 16.0, "num_demo": 1.0, "auto_demo": true,
	"num_k": 16.0,
	// model arguments
	"model_name_or_path": nil,
	// training arguments: MeZO's
	"zero_order_optim": false, "zero_order_eps": 1e-3, "efficient_zero_order": false,
	"zero_order_use_trainer_optim": false, "optimizer": "adam", "zero_order_sample": 1.0,
	"zero_order_sample_scheduler": nil, "scale_lr_with_samples": false,
	"zero_order_clip_grad": false, "max_zo_forward_steps": 0.0, "optimize_acc": false,
	"evaluate_during_training": false, "save_at_last": false, "no_train": false,
	// training arguments: Hugging Face's
	"output_dir": nil, "overwrite_output_dir": false, "do_train": false,
	"do_eval": false, "do_predict": false, "per_device_train_batch_size": 8.0,
	"per_device_eval_batch_size": 8.0, "learning_rate": 5e-5, "weight_decay": 0.0,
	"adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "max_grad_norm": 1.0,
	"max_steps": -1.0, "num_train_epochs": 3.0, "lr_scheduler_type": "linear",
	"warmup_steps": 0.0, "warmup_ratio": 0.0, "logging_steps": 500.0, "eval_steps": nil,
	"seed": 42.0, "gradient_accumulation_steps": 1.0, "dataloader_drop_last": false,
	// linear probing
	"trainer": "standard", "from_linearhead": false, "lp_early_stopping": false,
}

// unsupportedArgs are reference arguments a recipe cannot express yet, with
// the value that means "off" (FromReferenceArgs rejects any other value).
var unsupportedArgs = []struct {
	key  string
	off  any
	what string
}{
	{"apply_lora", false, "LoRA"},
	{"prefix_tuning", false, "prefix tuning"},
	{"l2_loss", false, "the L2 loss"},
	{"sfc", false, "surface-form calibration"},
	{"icl_sfc", false, "surface-form calibration"},
	{"fp16", false, "fp16 mixed precision"},
	{"bf16", false, "bf16 mixed precision"},
	{"zo_variant", nil, "variance- or expectation-modified SPSA"},
	{"zo_by_layer", false, "layer-by-layer ZO"},
	{"layer_wise_optim", false, "layer-wise optimisation"},
	{"use_zo_grad_est", false, "ZO norm estimates"},
	{"change_grad_estimate", false, "expectation-modified SPSA"},
	{"recompute_norms", false, "ZO norm recomputation"},
	{"prob_as_feature", false, "linear probing on probabilities"},
	{"head_tuning", false, "head tuning"},
	{"random_model_init", false, "random re-initialisation"},
	{"optimizer_variant", "", "sign-SGD"},
	{"fix_layers", 0.0, "frozen bottom layers"},
	{"tie_emb", false, "tied embeddings"},
	{"untie_emb", false, "untied embeddings"},
	{"hf_inference_model", false, "multi-GPU inference models"},
	{"efficient_zero_order_fp16", false, "fp16 ZO"},
	{"random_segment", false, "random segment embeddings"},
	{"demo_filter", false, "demonstration filtering"},
	{"gpt3_in_context_head", false, "GPT-3 in-context templates"},
	{"gpt3_in_context_tail", false, "GPT-3 in-context templates"},
	{"template_path", nil, "template files"},
	{"mapping_path", nil, "mapping files"},
	{"prompt_path", nil, "prompt files"},
	{"template_list", nil, "template lists"},
}
