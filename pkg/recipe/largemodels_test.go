package recipe

import (
	"slices"
	"strings"
	"testing"
)

// optBase is a minimal valid OPT recipe.
const optBase = "model: {family: opt, path: facebook/opt-125m}\ntask: {name: SST2, data_dir: /data/SST2}\nmethod: {kind: mezo}\n"

// TestOPTRecipeDefaults: an OPT recipe takes large_models' data settings
// from the defaults and none of the LM-BFF task table's.
func TestOPTRecipeDefaults(t *testing.T) {
	r, err := Parse("x.yaml", []byte(optBase))
	if err != nil {
		t.Fatal(err)
	}
	want := LargeModels{NumTrain: 1000, NumDev: 500, NumEval: 1000, TrainSetSeed: 0, Loss: LMLossClassification,
		Score: LMScoreMean, MaxLength: 2048, BOS: "large_models"}
	if r.LargeModels != want {
		t.Errorf("largemodels %+v, want %+v", r.LargeModels, want)
	}
	if r.Task.Template != "" || r.Task.Mapping != "" {
		t.Errorf("an OPT recipe got LM-BFF's template %q and mapping %q", r.Task.Template, r.Task.Mapping)
	}
	r, err = Parse("x.yaml", []byte("task: {name: SST-2, data_dir: /d}\nmodel: {path: roberta-large}\nmethod: {kind: mezo}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Model.Family != FamilyRoBERTa {
		t.Errorf("the default family is %q, want roberta", r.Model.Family)
	}
}

// TestOPTRecipeRefusals: what cannot run on OPT is refused at validation,
// naming the field, rather than ignored; a RoBERTa recipe may not set the
// largemodels section.
func TestOPTRecipeRefusals(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want []string // substrings, one per expected problem, each with its field
	}{
		{[]string{"method.kind=lp"}, []string{"method.kind: linear probing is RoBERTa's"}},
		{[]string{"method.from_linearhead=true"}, []string{"method.from_linearhead: linear probing is RoBERTa's"}},
		{[]string{"method.zo_variant=grad_norm", "method.efficient=false"}, []string{"method.zo_variant: the variants' groups are RoBERTa's"}},
		{[]string{"method.loss=neg-acc"}, []string{"method.loss: model.family opt trains with the candidate loss"}},
		{[]string{"task.few_shot_type=prompt-demo"}, []string{"task.few_shot_type: model.family opt uses large_models' prompts"}},
		{[]string{"task.name=SST-2"}, []string{`task.name: model.family opt runs large_models' tasks`}},
		{[]string{"reference=true"}, []string{"reference: reference: true reproduces MeZO's RoBERTa runs"}},
		{[]string{"optim.weight_decay=0.1"}, []string{"optim.weight_decay: large_models decays all but the biases and LayerNorms"}},
		{[]string{"eval.objective=f1"}, []string{"eval.objective: model.family opt tasks are scored by accuracy"}},
		{[]string{"peft.kind=prefix", "peft.prefix_reparam=true", "peft.prefix_init_by_real_act=false"}, []string{"peft.prefix_reparam: large_models' prefix tuning has no reparameterisation"}},
		{[]string{"peft.kind=lora", "peft.lora_only=true"}, []string{"peft.lora_only: model.family opt's LoRA always trains the LoRA matrices alone"}},
		{[]string{"largemodels.loss=lm", "largemodels.score=max", "largemodels.num_train=0", "largemodels.max_length=1", "largemodels.bos=x"}, []string{
			`largemodels.loss: expected one of classification, option, got "lm"`,
			`largemodels.score: expected one of mean, sum, got "max"`,
			"largemodels.num_train: expected an integer ≥ 1, got 0",
			"largemodels.max_length: expected an integer ≥ 2, got 1",
			`largemodels.bos: expected one of large_models, hf, got "x"`}},
		{[]string{"largemodels.num_dev=0"}, []string{"largemodels.num_dev: evaluating during training (eval.during_training) needs dev examples"}},
		{[]string{"model.family=gpt"}, []string{`model.family: expected one of roberta, opt, got "gpt"`}},
	} {
		_, err := Parse("x.yaml", []byte(optBase), c.sets...)
		if err == nil {
			t.Errorf("%v: accepted", c.sets)
			continue
		}
		var got []string
		for _, p := range Problems(err) {
			got = append(got, p.Error())
		}
		for _, w := range c.want {
			if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
				t.Errorf("%v: no problem %q among\n  %s", c.sets, w, strings.Join(got, "\n  "))
			}
		}
		if len(got) != len(c.want) && c.sets[0] != "model.family=gpt" && c.sets[0] != "task.name=SST-2" {
			t.Errorf("%v: %d problems, want %d:\n  %s", c.sets, len(got), len(c.want), strings.Join(got, "\n  "))
		}
	}
	_, err := Parse("x.yaml", []byte("model: {path: roberta-large}\ntask: {name: SST-2, data_dir: /d}\nmethod: {kind: mezo}\n"), "largemodels.num_train=16")
	wantErrors(t, err, "--set largemodels.num_train=16: largemodels: is read only with model.family opt (model.family is roberta)")
}
