package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// runTokenize runs `mezo tokenize args...` in-process with stdin.
func runTokenize(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runMezo(t, stdin, append([]string{"tokenize"}, args...)...)
	return out, err
}

type tokenizeOut struct {
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

func parseOut(t *testing.T, out string) []tokenizeOut {
	t.Helper()
	var res []tokenizeOut
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "null") {
			t.Errorf("output line has null: %s", line)
		}
		var o tokenizeOut
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if o.IDs == nil || o.Tokens == nil {
			t.Errorf("output line %q lacks ids or tokens", line)
		}
		res = append(res, o)
	}
	return res
}

// TestTokenizeCommandFixture feeds tokenize.jsonl (its extra fields "ids",
// "tokens", "source" must be ignored) through the command with each way of
// naming the tokenizer and compares with the fixture's HF ids and tokens.
func TestTokenizeCommandFixture(t *testing.T) {
	fixture := testenv.SharedPath(t, "fixtures", "tokenizer", "tokenize.jsonl")
	dir := testenv.SharedPath(t, "data", "models", "roberta-base")
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	data := string(raw)
	var want []tokenizeOut
	for _, line := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		var o tokenizeOut
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatal(err)
		}
		want = append(want, o)
	}
	for _, args := range [][]string{
		{"--model", dir},
		{"--vocab", filepath.Join(dir, "vocab.json"), "--merges", filepath.Join(dir, "merges.txt")},
		{"--tokenizer-json", filepath.Join(dir, "tokenizer.json")},
	} {
		out, err := runTokenize(t, data, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		got := parseOut(t, out)
		if len(got) != len(want) {
			t.Fatalf("%v: %d output lines for %d input lines", args, len(got), len(want))
		}
		bad := 0
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				bad++
				if bad <= 5 {
					t.Errorf("%v line %d: got %v, want %v", args, i+1, got[i], want[i])
				}
			}
		}
		t.Logf("%v: %d/%d lines match", args, len(want)-bad, len(want))
	}
}

func TestTokenizeCommandSpecialAndEmpty(t *testing.T) {
	dir := testenv.SharedPath(t, "data", "models", "roberta-base")
	in := `{"text": ""}` + "\n" + `{"text": "It was <mask> .", "label": 1}` + "\n"
	out, err := runTokenize(t, in, "--model", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 || lines[0] != `{"ids":[],"tokens":[]}` {
		t.Fatalf("plain output %q: want 2 lines, the first {\"ids\":[],\"tokens\":[]}", out)
	}
	// Expected values from the fixtures: encode_special.jsonl has
	// "" -> [0, 2] and "It was <mask> ." -> [0, 243, 21, 50264, 479, 2];
	// tokenize.jsonl has the tokens of the latter.
	out, err = runTokenize(t, in, "--special", "--model", dir)
	if err != nil {
		t.Fatal(err)
	}
	got := parseOut(t, out)
	want := []tokenizeOut{
		{IDs: []int{0, 2}, Tokens: []string{"<s>", "</s>"}},
		{IDs: []int{0, 243, 21, 50264, 479, 2}, Tokens: []string{"<s>", "It", "Ġwas", "<mask>", "Ġ.", "</s>"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("--special: got %v, want %v", got, want)
	}
}

func TestTokenizeCommandErrors(t *testing.T) {
	dir := testenv.SharedPath(t, "data", "models", "roberta-base")
	for _, tc := range []struct {
		name, stdin string
		args        []string
		wantErr     string
	}{
		{"no tokenizer", `{"text":"a"}`, nil, "exactly one of"},
		{"two ways", `{"text":"a"}`, []string{"--model", dir, "--tokenizer-json", filepath.Join(dir, "tokenizer.json")}, "exactly one of"},
		{"vocab without merges", `{"text":"a"}`, []string{"--vocab", filepath.Join(dir, "vocab.json")}, "--merges"},
		{"missing dir", `{"text":"a"}`, []string{"--model", filepath.Join(t.TempDir(), "nope")}, "nope"},
		{"malformed line 2", "{\"text\":\"a\"}\n{\"text\": \n", []string{"--model", dir}, "line 2"},
		{"no text field line 3", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"txt\":\"c\"}\n", []string{"--model", dir}, "line 3"},
		{"text not a string", "{\"text\": 5}\n", []string{"--model", dir}, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runTokenize(t, tc.stdin, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
