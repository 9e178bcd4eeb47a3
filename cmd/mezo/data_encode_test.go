package main

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// runDataEncode runs `mezo data encode args...` in-process.
func runDataEncode(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runMezo(t, "", append([]string{"data", "encode"}, args...)...)
	return out, err
}

type encodeLine struct {
	InputIDs      []int `json:"input_ids"`
	AttentionMask []int `json:"attention_mask"`
	MaskPos       *int  `json:"mask_pos"`
	LabelID       int   `json:"label_id"`
}

func jsonLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

// TestDataEncodeMatchesFixture encodes the k-shot splits the template
// fixture was rendered from and compares with its rows.
func TestDataEncodeMatchesFixture(t *testing.T) {
	model := testenv.SharedPath(t, "data", "models", "roberta-base")
	for _, tc := range []struct{ task, mode, fixture string }{
		{"SST-2", "prompt", "prompt/SST-2.train.jsonl"},
		{"MNLI", "prompt", "prompt/MNLI.train.jsonl"},
		{"trec", "prompt", "prompt/trec.train.jsonl"},
		{"RTE", "finetune", "finetune/RTE.train.jsonl"},
	} {
		out, err := runDataEncode(t, "--task", tc.task, "--mode", tc.mode, "--model", model,
			"--data-dir", testenv.SharedPath(t, "data", "k-shot", tc.task, "16-42"))
		if err != nil {
			t.Fatalf("%s: %v", tc.task, err)
		}
		got := jsonLines[encodeLine](t, out)
		data, err := os.ReadFile(testenv.SharedPath(t, "fixtures", "templates", tc.fixture))
		if err != nil {
			t.Fatal(err)
		}
		want := jsonLines[encodeLine](t, string(data))
		if len(got) != len(want) {
			t.Fatalf("%s: %d lines, want %d", tc.fixture, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !slices.Equal(g.InputIDs, w.InputIDs) || !slices.Equal(g.AttentionMask, w.AttentionMask) ||
				(g.MaskPos == nil) != (w.MaskPos == nil) || (g.MaskPos != nil && *g.MaskPos != *w.MaskPos) || g.LabelID != w.LabelID {
				t.Errorf("%s line %d differs:\n got %+v\nwant %+v", tc.fixture, i, g, w)
			}
		}
		t.Logf("%s: %d lines match", tc.fixture, len(want))
	}
}

func TestDataEncodeOptions(t *testing.T) {
	model := testenv.SharedPath(t, "data", "models", "roberta-base")
	sst2 := testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-42")

	out, err := runDataEncode(t, "--task", "MNLI", "--label-words", "--vocab", model+"/vocab.json", "--merges", model+"/merges.txt")
	if err != nil || strings.TrimSpace(out) != `{"label_word_ids":[440,3216,5359]}` {
		t.Fatalf("label words: %q, %v", out, err)
	}
	out, err = runDataEncode(t, "--task", "sst-2", "--label-words", "--mapping", "{'0':'bad','1':'good'}", "--tokenizer-json", model+"/tokenizer.json")
	if err != nil || strings.TrimSpace(out) != `{"label_word_ids":[1099,205]}` {
		t.Fatalf("label words with --mapping: %q, %v", out, err)
	}

	// prompt-demo dev: num_sample lines per example.
	out, err = runDataEncode(t, "--task", "SST-2", "--mode", "prompt-demo", "--split", "dev", "--num-sample", "2",
		"--data-dir", sst2, "--model", model)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(jsonLines[encodeLine](t, out)); n != 64 {
		t.Fatalf("prompt-demo dev: %d lines, want 64", n)
	}

	// Flags override the task's defaults.
	out, err = runDataEncode(t, "--task", "SST-2", "--data-dir", sst2, "--model", model,
		"--template", "*cls**mask*:*+sent_0**sep+*", "--first-sent-limit", "2")
	if err != nil {
		t.Fatal(err)
	}
	first := jsonLines[encodeLine](t, out)[0]
	if len(first.InputIDs) != 6 || *first.MaskPos != 1 {
		t.Fatalf("override: %+v", first)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--task", "SST-2", "--data-dir", sst2, "--model", model, "--max-length", "8"},
			"SST-2 train example 0 (train-1, " + sst2 + "/train.tsv:2): lmbff: <mask> at index 10 of 13 tokens is cut"},
		{[]string{"--task", "SST-2", "--data-dir", sst2, "--model", model, "--template", "*cls**sent_0*"}, "has no *mask* part"},
		{[]string{"--task", "nope", "--data-dir", sst2, "--model", model}, `unknown task "nope"`},
		{[]string{"--task", "SST-2", "--data-dir", sst2}, "no tokenizer"},
		{[]string{"--task", "SST-2", "--data-dir", sst2, "--model", model, "--split", "val"}, `unknown split "val"`},
		{[]string{"--task", "SST-2", "--data-dir", t.TempDir(), "--model", model}, "train.tsv: no such file"},
		{[]string{"--task", "RTE", "--mode", "finetune", "--label-words", "--model", model}, "finetune mode has no label words"},
	} {
		_, err := runDataEncode(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
