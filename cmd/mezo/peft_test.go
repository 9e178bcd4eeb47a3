package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dryRunTrainable runs `mezo run --dry-run` on the run fixture's recipe of
// kind with sets applied and returns the trainable tensors it lists.
func dryRunTrainable(t *testing.T, kind string, sets ...string) []string {
	t.Helper()
	f := newRunFixture(t)
	rp := f.recipe(t, t.TempDir(), "dry.yaml", kind, "")
	args := []string{"run", rp, "--dry-run"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	_, names := dryRunList(t, sets, args...)
	return names
}

// dryRunList runs `mezo ARGS` (a --dry-run; sets name the case in
// messages) and returns its output and the trainable tensors it lists.
func dryRunList(t *testing.T, sets []string, args ...string) (string, []string) {
	t.Helper()
	out, err := mezoRun(t, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", sets, err, out)
	}
	m := regexp.MustCompile(`(?m)^parameters \d+ trainable of \d+, in (\d+) tensors:\n((?:  \S+\n)*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%v: no trainable parameter list:\n%s", sets, out)
	}
	return out, strings.Fields(m[2])
}

// TestDryRunTrainableSets: --dry-run lists each mode's trainable set
// (MEZO_SPEC §3.3) in named_parameters() order, the z stream's order.
func TestDryRunTrainableSets(t *testing.T) {
	layer := func(l, what string) string { return "roberta.encoder.layer." + l + ".attention." + what }
	var lora []string
	for _, l := range []string{"0", "1"} {
		for _, p := range []string{"query", "value"} {
			lora = append(lora, layer(l, "self."+p+".lora_A"), layer(l, "self."+p+".lora_B"))
		}
	}
	lmHead := []string{"lm_head.bias", "lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight",
		"lm_head.layer_norm.bias", "lm_head.decoder.weight"}
	cls := []string{"classifier.weight", "classifier.bias"}
	prefix := []string{layer("0", "prefix_keys"), layer("0", "prefix_values"), layer("1", "prefix_keys"), layer("1", "prefix_values")}
	var reparam []string
	for _, l := range []string{"0", "1"} {
		if l == "0" {
			reparam = append(reparam, layer(l, "prefix_input_embeds"))
		}
		for _, kv := range []string{"keys", "values"} {
			for _, p := range []string{"0.weight", "0.bias", "2.weight", "2.bias"} {
				reparam = append(reparam, layer(l, "prefix_mlp_"+kv+"."+p))
			}
		}
	}
	cases := []struct {
		name, kind string
		sets       []string
		want       []string
	}{
		// The reference's LoRA set: LoRA, the LM head and the classifier;
		// without reference: true the classifier the prompt loss never
		// reads is frozen, as in full MeZO.
		{"mezo-lora", "mezo", []string{"peft.kind=lora"}, append(slices.Clone(lora), lmHead...)},
		{"mezo-lora-reference-set", "mezo", []string{"peft.kind=lora", "reference=true"}, append(append(slices.Clone(lora), lmHead...), cls...)},
		{"mezo-lora-only", "mezo", []string{"peft.kind=lora", "peft.lora_only=true"}, lora},
		{"ft-lora", "ft", []string{"peft.kind=lora"}, append(slices.Clone(lora), lmHead...)},
		{"mezo-prefix", "mezo", []string{"peft.kind=prefix"}, prefix},
		{"ft-prefix-reparam", "ft", []string{"peft.kind=prefix", "peft.prefix_reparam=true", "peft.prefix_init_by_real_act=false"}, reparam},
		// Linear probing changes only the head it writes: the label words'
		// decoder rows and biases, or in finetune mode the bare classifier
		// of the prompt model class.
		{"lp", "lp", nil, []string{"lm_head.bias", "lm_head.decoder.weight"}},
		{"lp-finetune", "lp", []string{"task.few_shot_type=finetune"}, cls},
		// LP-MeZO trains full MeZO's set from the probed head; in finetune
		// mode the unused LM head is frozen instead of the classifier.
		{"lp-mezo", "mezo", []string{"method.from_linearhead=true"}, append(backbone(), lmHead...)},
		{"lp-mezo-finetune", "mezo", []string{"method.from_linearhead=true", "task.few_shot_type=finetune"}, append(backbone(), cls...)},
		{"lp-mezo-lora", "mezo", []string{"method.from_linearhead=true", "peft.kind=lora"}, append(slices.Clone(lora), lmHead...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := dryRunTrainable(t, c.kind, c.sets...)
			if !slices.Equal(got, c.want) {
				t.Errorf("trainable set\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

// backbone lists the fixture model's backbone tensors (2 layers) in
// named_parameters() order.
func backbone() []string {
	out := []string{"roberta.embeddings.word_embeddings.weight", "roberta.embeddings.position_embeddings.weight",
		"roberta.embeddings.token_type_embeddings.weight", "roberta.embeddings.LayerNorm.weight", "roberta.embeddings.LayerNorm.bias"}
	for _, l := range []string{"0", "1"} {
		for _, m := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
			"attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"} {
			out = append(out, "roberta.encoder.layer."+l+"."+m+".weight", "roberta.encoder.layer."+l+"."+m+".bias")
		}
	}
	return out
}

// TestDryRunDescribesProbe: --dry-run says what linear probing fits and
// where it writes, for lp and LP-MeZO, in prompt and finetune mode.
func TestDryRunDescribesProbe(t *testing.T) {
	f := newRunFixture(t)
	for _, c := range []struct {
		kind string
		sets []string
		want []string
	}{
		{"lp", nil, []string{"probe      logistic regression (5-fold CV over 10 Cs, max_iter 5000, tol 0.0001) on the 32 training examples, written into rows [6587 372] of lm_head.decoder.weight and lm_head.bias"}},
		{"lp", []string{"method.lp_early_stopping=true", "task.few_shot_type=finetune"}, []string{"max_iter 1000, tol 0.01", "written into classifier.weight and classifier.bias (a bare Linear on <s>)", "bare linear classifier (the prompt model's, for linear probing) head"}},
		{"mezo", []string{"method.from_linearhead=true"}, []string{"lm_head.bias (the label words'), from the LM head's decoder input at <mask>, then mezo from there"}},
	} {
		rp := f.recipe(t, t.TempDir(), "lp.yaml", c.kind, "")
		args := []string{"run", rp, "--dry-run"}
		for _, s := range c.sets {
			args = append(args, "--set", s)
		}
		out, err := mezoRun(t, args...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", c.kind, c.sets, err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s %v: dry run lacks %q:\n%s", c.kind, c.sets, w, out)
			}
		}
	}
	// A regression task cannot be probed (the reference fits least squares).
	rp := f.recipe(t, t.TempDir(), "lp.yaml", "lp", "")
	out, err := mezoRun(t, "run", rp, "--dry-run", "--set", "task.name=STS-B")
	if err == nil || !strings.Contains(err.Error(), "method.kind: linear probing of STS-B") {
		t.Errorf("lp on STS-B: %v\n%s", err, out)
	}
}

// TestRunLinearProbe: `mezo run` of an lp recipe probes, evaluates and
// writes its run directory: the probe in metrics.jsonl before the final
// evaluations and in result.json, no training steps, and a best model that
// `mezo eval` scores as the run did (the written head is saved).
func TestRunLinearProbe(t *testing.T) {
	f := newRunFixture(t)
	dir := t.TempDir()
	rp := f.recipe(t, dir, "lp.yaml", "lp", "")
	out, err := mezoRun(t, "run", rp)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "linear probe: C ") || !strings.Contains(out, "  probe: C ") {
		t.Errorf("mezo run printed no probe:\n%s", out)
	}
	run := filepath.Join(dir, "out")
	res := readResult(t, run, "probe", "dev", "test", "trained_parameters")
	if res.Method != "lp" || res.GlobalStep != 0 || res.Forwards != 0 || res.BestStep != nil || res.Dev == nil {
		t.Fatalf("result.json: %+v", res)
	}
	lines := readMetrics(t, run)
	if len(lines) != 3 || lines[0]["kind"] != "probe" || lines[1]["kind"] != "eval" || lines[2]["kind"] != "eval" {
		t.Fatalf("metrics.jsonl: %v", lines)
	}
	if acc, _ := lines[0]["train_accuracy"].(json.Number).Float64(); acc <= 0.5 {
		t.Errorf("probe training accuracy %v", acc)
	}
	ev := runEval(t, run, "dev")
	if ev.Correct != res.Dev.Correct || float32(ev.Loss) != float32(res.Dev.Loss) {
		t.Errorf("mezo eval of the probed model: %d correct, loss %v; the run: %d, %v", ev.Correct, ev.Loss, res.Dev.Correct, res.Dev.Loss)
	}
}
