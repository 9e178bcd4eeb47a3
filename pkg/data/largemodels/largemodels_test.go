package largemodels

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/tokenizer"
)

// TestPrompts: every supported task's prompt and verbalized candidates,
// written out by hand from large_models' templates.py.
func TestPrompts(t *testing.T) {
	for _, c := range []struct {
		task    string
		data    map[string]string
		label   int
		encode  string
		options []string
	}{
		{"SST2", map[string]string{"sentence": "  a gripping film \n"}, 1, "a gripping film It was",
			[]string{"a gripping film It was terrible", "a gripping film It was great"}},
		{"RTE", map[string]string{"premise": "P.", "hypothesis": "H"}, 0, "P.\nDoes this mean that \"H\" is true? Yes or No?\n",
			[]string{"P.\nDoes this mean that \"H\" is true? Yes or No?\nYes", "P.\nDoes this mean that \"H\" is true? Yes or No?\nNo"}},
		{"CB", map[string]string{"premise": "P.", "hypothesis": "H"}, 2, "Suppose P. Can we infer that \"H\"? Yes, No, or Maybe?\n",
			[]string{"Suppose P. Can we infer that \"H\"? Yes, No, or Maybe?\nYes", "Suppose P. Can we infer that \"H\"? Yes, No, or Maybe?\nNo",
				"Suppose P. Can we infer that \"H\"? Yes, No, or Maybe?\nMaybe"}},
		{"BoolQ", map[string]string{"passage": "Text.", "question": "is it true"}, 1, "Text. Is it true?\n",
			[]string{"Text. Is it true?\nYes", "Text. Is it true?\nNo"}},
		{"WIC", map[string]string{"sentence1": "A", "sentence2": "B", "word": "w"}, 0,
			"Does the word \"w\" have the same meaning in these two sentences? Yes, No?\nA\nB\n",
			[]string{"Does the word \"w\" have the same meaning in these two sentences? Yes, No?\nA\nB\nNo",
				"Does the word \"w\" have the same meaning in these two sentences? Yes, No?\nA\nB\nYes"}},
		{"WSC", map[string]string{"text": "T", "span1_text": "Bob", "span2_text": "He"}, 1,
			"T\nIn the previous sentence, does the pronoun \"he\" refer to Bob? Yes or No?\n",
			[]string{"T\nIn the previous sentence, does the pronoun \"he\" refer to Bob? Yes or No?\nNo",
				"T\nIn the previous sentence, does the pronoun \"he\" refer to Bob? Yes or No?\nYes"}},
		{"MultiRC", map[string]string{"paragraph": "P", "question": "Q", "answer": "A"}, 0,
			"P\nQuestion: Q\nI found this answer \"A\". Is that correct? Yes or No?\n",
			[]string{"P\nQuestion: Q\nI found this answer \"A\". Is that correct? Yes or No?\nNo",
				"P\nQuestion: Q\nI found this answer \"A\". Is that correct? Yes or No?\nYes"}},
		{"Copa", map[string]string{"premise": "The man fell. ", "question": "cause", "choice1": "He slipped.", "choice2": "I pushed him."}, 0,
			"The man fell because ", []string{"The man fell because he slipped.", "The man fell because I pushed him."}},
		{"Copa", map[string]string{"premise": "It rained.", "question": "effect", "choice1": "Roads got wet.", "choice2": "X"}, 0,
			"It rained so ", []string{"It rained so roads got wet.", "It rained so x"}},
	} {
		task, err := LookupTask(c.task)
		if err != nil {
			t.Fatal(err)
		}
		s, err := task.NewSample(c.data, c.label)
		if err != nil {
			t.Fatalf("%s: %v", c.task, err)
		}
		if got := task.Encode(s); got != c.encode {
			t.Errorf("%s: Encode = %q, want %q", c.task, got, c.encode)
		}
		var got []string
		for k := range s.Candidates {
			got = append(got, task.Verbalize(s, k))
		}
		if !reflect.DeepEqual(got, c.options) {
			t.Errorf("%s: Verbalize = %q, want %q", c.task, got, c.options)
		}
	}
}

func robertaTokenizer(t *testing.T) *tokenizer.Tokenizer {
	tok, err := tokenizer.Load(testenv.SharedPath(t, "data", "models", "roberta-base"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestEncodePrompt: sequences start with the BOS, end with each
// candidate's option tokens, demonstrations come first joined by a blank
// line, and truncation keeps the BOS and the last tokens. The tokenizer is
// roberta-base's (the GPT-2 byte-level BPE OPT shares).
func TestEncodePrompt(t *testing.T) {
	tok := robertaTokenizer(t)
	task, _ := LookupTask("SST2")
	s, err := task.NewSample(map[string]string{"sentence": "a gripping film "}, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(text string) []int {
		ids, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	e, err := EncodePrompt(tok, task, nil, s, 2048, 0)
	if err != nil {
		t.Fatal(err)
	}
	for c, word := range []string{"terrible", "great"} {
		want := append([]int{0}, enc("a gripping film It was "+word)...)
		if !reflect.DeepEqual(e.Seqs[c], want) {
			t.Errorf("candidate %d: %v, want %v", c, e.Seqs[c], want)
		}
		if n := len(enc(" " + word)); e.OptionLen[c] != n || n != 1 {
			t.Errorf("candidate %d: option length %d, want %d (one token)", c, e.OptionLen[c], n)
		}
	}
	if gold, n := e.Gold(); !reflect.DeepEqual(gold, e.Seqs[1]) || n != 1 {
		t.Errorf("Gold = %v, %d", gold, n)
	}

	demo, _ := task.NewSample(map[string]string{"sentence": " dull "}, 0)
	e, err = EncodePrompt(tok, task, []Sample{demo}, s, 2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]int{2}, enc("dull It was terrible\n\na gripping film It was great")...)
	if !reflect.DeepEqual(e.Seqs[1], want) {
		t.Errorf("with a demonstration: %v, want %v", e.Seqs[1], want)
	}

	e, err = EncodePrompt(tok, task, nil, s, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	full := append([]int{0}, enc("a gripping film It was great")...)
	if want := append([]int{0}, full[len(full)-3:]...); !reflect.DeepEqual(e.Seqs[1], want) {
		t.Errorf("truncated to 4: %v, want %v", e.Seqs[1], want)
	}
}

// TestNewSampleErrors: missing fields and out-of-range labels are refused
// with the task and the field named.
func TestNewSampleErrors(t *testing.T) {
	task, _ := LookupTask("RTE")
	if _, err := task.NewSample(map[string]string{"premise": "p"}, 0); err == nil || !strings.Contains(err.Error(), "hypothesis") {
		t.Errorf("missing field: %v", err)
	}
	if _, err := task.NewSample(map[string]string{"premise": "p", "hypothesis": "h"}, 2); err == nil || !strings.Contains(err.Error(), "label 2") {
		t.Errorf("bad label: %v", err)
	}
	copa, _ := LookupTask("Copa")
	if _, err := copa.NewSample(map[string]string{"premise": "p", "question": "why", "choice1": "a", "choice2": "b"}, 0); err == nil {
		t.Error("a Copa question other than cause/effect was accepted")
	}
	if _, err := LookupTask("SQuAD"); err == nil || !strings.Contains(err.Error(), "SST2") {
		t.Errorf("unknown task: %v", err)
	}
}

// TestReadShared: GLUE SST-2 and RTE from ../shared/data/original read as
// samples whose labels are balanced-ish and whose prompts are non-empty.
func TestReadShared(t *testing.T) {
	for _, c := range []struct{ task, file string }{{"SST2", "SST-2/dev.tsv"}, {"RTE", "RTE/dev.tsv"}} {
		task, _ := LookupTask(c.task)
		ss, err := ReadGLUETSV(task, testenv.SharedPath(t, "data", "original", c.file))
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, len(task.Verbalizer))
		for _, s := range ss {
			counts[s.Correct]++
		}
		t.Logf("%s %s: %d samples, labels %v; first prompt %q", c.task, c.file, len(ss), counts, task.Verbalize(ss[0], ss[0].Correct))
		for l, n := range counts {
			if n == 0 {
				t.Errorf("%s: no sample with label %d", c.task, l)
			}
		}
	}
}

// TestReadJSONL: Hugging Face datasets' records, BoolQ's boolean answer.
func TestReadJSONL(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/boolq.jsonl"
	if err := os.WriteFile(p, []byte(`{"question":"is it","passage":"P","answer":true}`+"\n"+`{"question":"is it?","passage":"P","answer":false}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task, _ := LookupTask("BoolQ")
	ss, err := ReadJSONL(task, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Correct != 0 || ss[1].Correct != 1 || task.Verbalize(ss[0], 0) != "P Is it?\nYes" {
		t.Errorf("read %+v", ss)
	}
}
