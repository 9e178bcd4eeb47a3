package recipe

import (
	"slices"
	"strings"

	"github.com/gomezo/gomezo/pkg/data/largemodels"
)

// Family is a model family: which architecture, prompts and objective a
// run uses.
type Family string

// The families.
const (
	// FamilyRoBERTa is MeZO's medium_models: a masked LM with LM-BFF
	// prompts (task.*) and the prompt or classification head.
	FamilyRoBERTa Family = "roberta"
	// FamilyOPT is MeZO's large_models: a decoder (OPTForCausalLM) with
	// large_models' prompts, classification by candidates (largemodels.*).
	FamilyOPT Family = "opt"
)

// LargeModels is what MeZO's large_models run needs beyond the shared
// sections (MEZO_SPEC §11): how many examples each split samples, the
// training loss and the candidate score. Only model.family opt reads it.
type LargeModels struct {
	// NumTrain and NumDev are the training and dev examples, both sampled
	// from the data's training split: a permutation seeded with
	// TrainSetSeed, its first NumTrain+NumDev examples, the last NumDev of
	// them the dev set (large_models' sample_train_sets).
	NumTrain int `yaml:"num_train"`
	NumDev   int `yaml:"num_dev"`
	// NumEval is the test examples, the first of a permutation of the
	// validation split seeded with 0; 0 takes the whole split.
	NumEval int `yaml:"num_eval"`
	// TrainSetSeed seeds the training sample (--train_set_seed).
	TrainSetSeed int `yaml:"train_set_seed"`
	// Loss is classification (--train_as_classification: CE over the
	// candidates' mean option log-probabilities) or option (only the gold
	// option's token CE, --only_train_option; Copa's).
	Loss string `yaml:"loss"`
	// Score is how a candidate is scored at evaluation: mean (large_models'
	// length-normalised default) or sum of its option log-probabilities.
	Score string `yaml:"score"`
	// MaxLength cuts every prompt+option sequence to its last tokens
	// (keeping the BOS), --max_length.
	MaxLength int `yaml:"max_length"`
	// BOS is the id prompts start with: large_models (0, MeZO's results) or
	// hf (the tokenizer's own BOS, 2 for OPT).
	BOS string `yaml:"bos"`
}

// The large_models losses and scores.
const (
	LMLossClassification = "classification"
	LMLossOption         = "option"
	LMScoreMean          = "mean"
	LMScoreSum           = "sum"
)

// validateFamily checks model.family and, for OPT, the largemodels section
// and the fields that mean nothing or cannot work for a decoder, each
// refused by name. It reports whether the task section is OPT's (the
// LM-BFF task checks then do not apply).
func (r *Recipe) validateFamily(p *problems) bool {
	oneOf(p, "model.family", r.Model.Family, FamilyRoBERTa, FamilyOPT)
	if r.Model.Family != FamilyOPT {
		if r.LargeModels != Default(r.Method.Kind).LargeModels {
			p.add("largemodels", "is read only with model.family opt (model.family is %s)", r.Model.Family)
		}
		return false
	}
	lm, me := &r.LargeModels, &r.Method
	if _, err := largemodels.LookupTask(r.Task.Name); err != nil {
		p.add("task.name", "model.family opt runs large_models' tasks: one of %s, got %q", strings.Join(largemodels.TaskNames(), ", "), r.Task.Name)
	}
	p.atLeast("largemodels.num_train", lm.NumTrain, 1)
	p.atLeast("largemodels.num_dev", lm.NumDev, 0)
	p.atLeast("largemodels.num_eval", lm.NumEval, 0)
	p.atLeast("largemodels.train_set_seed", lm.TrainSetSeed, 0)
	p.atLeast("largemodels.max_length", lm.MaxLength, 2)
	oneOf(p, "largemodels.loss", lm.Loss, LMLossClassification, LMLossOption)
	oneOf(p, "largemodels.score", lm.Score, LMScoreMean, LMScoreSum)
	oneOf(p, "largemodels.bos", lm.BOS, "large_models", "hf")
	if r.Eval.DuringTraining && lm.NumDev == 0 && (me.Kind == MeZO || me.Kind == FT) {
		p.add("largemodels.num_dev", "evaluating during training (eval.during_training) needs dev examples: num_dev > 0")
	}
	// What is RoBERTa's only.
	opt := "model.family opt"
	if r.Model.Head != HeadPrompt {
		p.add("model.head", "%s scores candidates with the LM head; the %s head is RoBERTa's", opt, r.Model.Head)
	}
	if r.Task.FewShotType != "prompt" {
		p.add("task.few_shot_type", "%s uses large_models' prompts (no LM-BFF demonstrations or finetune mode), got %s", opt, r.Task.FewShotType)
	}
	if r.Model.Pretrain.Preset != "" {
		p.add("model.pretrain.preset", "the pre-trained presets are RoBERTa's; %s loads a checkpoint from model.path", opt)
	}
	if me.Kind == LP {
		p.add("method.kind", "linear probing is RoBERTa's (a logistic regression written into the prompt or classifier head); %s has no such head", opt)
	}
	if me.FromLinearHead {
		p.add("method.from_linearhead", "linear probing is RoBERTa's; %s has no head to write it into", opt)
	}
	if slices.Contains([]ZOVariant{VariantGradNorm, VariantParamNorm}, me.ZOVariant) {
		p.add("method.zo_variant", "the variants' groups are RoBERTa's (embed, lm_head, layer.N.); %s is not supported", opt)
	}
	if me.Loss != LossCE {
		p.add("method.loss", "%s trains with the candidate loss (largemodels.loss); %s is RoBERTa's label-word accuracy", opt, me.Loss)
	}
	if r.Runtime.Precision != FP32 {
		p.add("runtime.precision", "%s runs in its model.dtype (large_models loads float16 weights); autocast (%s) is wired for RoBERTa only", opt, r.Runtime.Precision)
	}
	if r.Optim.WeightDecay != 0 {
		p.add("optim.weight_decay", "large_models decays all but the biases and LayerNorms (chosen by module type); %s does not implement that grouping: use 0, as mezo.sh and finetune.sh do", opt)
	}
	if e := r.Eval.Objective; e != ObjectiveAuto && e != "acc" {
		p.add("eval.objective", "%s tasks are scored by accuracy: auto or acc, got %q", opt, e)
	}
	if r.Reference {
		p.add("reference", "reference: true reproduces MeZO's RoBERTa runs (medium_models) bit for bit; %s (large_models) has no replayed reference", opt)
	}
	if r.PEFT.Kind == PEFTPrefix && r.PEFT.PrefixReparam {
		p.add("peft.prefix_reparam", "large_models' prefix tuning has no reparameterisation (%s)", opt)
	}
	if r.PEFT.LoRAOnly {
		p.add("peft.lora_only", "%s's LoRA always trains the LoRA matrices alone, as large_models does; drop the field", opt)
	}
	return true
}
