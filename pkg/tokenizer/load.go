package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// readVocab reads a vocab.json: a JSON object from token to non-negative id.
func readVocab(path string) (map[string]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading vocabulary: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: bad vocabulary JSON (want an object from token to integer id): %v", path, err)
	}
	if err := checkVocab(path, vocab); err != nil {
		return nil, err
	}
	return vocab, nil
}

func checkVocab(path string, vocab map[string]int) error {
	if len(vocab) == 0 {
		return fmt.Errorf("tokenizer: %s: empty vocabulary", path)
	}
	for tok, id := range vocab {
		if id < 0 {
			return fmt.Errorf("tokenizer: %s: token %q has negative id %d", path, tok, id)
		}
	}
	return nil
}

// readMerges reads a merges.txt: an optional first line starting with '#'
// ("#version: 0.2"), then one merge "a b" per line in rank order. Blank lines
// are ignored (HF drops the text after the last newline).
func readMerges(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading merges: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	out := make([]string, 0, len(lines))
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if i == 0 && strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: %s line %d: a merge is two tokens separated by a space, got %q", path, i+1, line)
		}
		out = append(out, f[0]+" "+f[1])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: no merges", path)
	}
	return out, nil
}

// tokenizerFile is the part of a Hugging Face tokenizer.json used here.
type tokenizerFile struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Lstrip  bool   `json:"lstrip"`
		Rstrip  bool   `json:"rstrip"`
	} `json:"added_tokens"`
	Model *struct {
		Type   string          `json:"type"`
		Vocab  map[string]int  `json:"vocab"`
		Merges json.RawMessage `json:"merges"`
	} `json:"model"`
}

// FromJSON loads a tokenizer from a Hugging Face tokenizer.json holding a BPE
// model (model.vocab, model.merges as "a b" strings or [a, b] pairs). Every
// entry of added_tokens is matched inside text with its lstrip/rstrip flags;
// the normalizer, pre-tokenizer and post-processor sections are not read: the
// pipeline is always RoBERTa's (byte-level, no prefix space).
func FromJSON(tokenizerJSONPath string) (*Tokenizer, error) {
	path := tokenizerJSONPath
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading tokenizer.json: %w", err)
	}
	var f tokenizerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: bad JSON: %v", path, err)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("tokenizer: %s: no \"model\" section", path)
	}
	if f.Model.Type != "" && f.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: %s: model type %q, want BPE", path, f.Model.Type)
	}
	if err := checkVocab(path+" (model.vocab)", f.Model.Vocab); err != nil {
		return nil, err
	}
	merges, err := jsonMerges(f.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: model.merges: %v", path, err)
	}
	vocab := f.Model.Vocab
	byID := make(map[int]string, len(vocab))
	for tok, id := range vocab {
		byID[id] = tok
	}
	var added []special
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			return nil, fmt.Errorf("tokenizer: %s: added token with id %d has empty content", path, a.ID)
		}
		if a.ID < 0 {
			return nil, fmt.Errorf("tokenizer: %s: added token %q has negative id %d", path, a.Content, a.ID)
		}
		if id, ok := vocab[a.Content]; ok && id != a.ID {
			return nil, fmt.Errorf("tokenizer: %s: added token %q has id %d but the vocabulary says %d", path, a.Content, a.ID, id)
		}
		if tok, ok := byID[a.ID]; ok && tok != a.Content {
			return nil, fmt.Errorf("tokenizer: %s: added token %q has id %d, already the vocabulary's %q", path, a.Content, a.ID, tok)
		}
		vocab[a.Content] = a.ID
		byID[a.ID] = a.Content
		added = append(added, special{content: a.Content, id: a.ID, lstrip: a.Lstrip, rstrip: a.Rstrip})
	}
	return build(path, vocab, merges, added)
}

// jsonMerges accepts both tokenizer.json merge forms: ["a b", ...] and
// [["a", "b"], ...].
func jsonMerges(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("missing")
	}
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		out := make([]string, 0, len(asStrings))
		for i, m := range asStrings {
			f := strings.Split(m, " ")
			if len(f) != 2 || f[0] == "" || f[1] == "" {
				return nil, fmt.Errorf("merge %d is %q, want \"a b\"", i, m)
			}
			out = append(out, m)
		}
		return out, nil
	}
	var asPairs [][]string
	if err := json.Unmarshal(raw, &asPairs); err != nil {
		return nil, fmt.Errorf("want a list of \"a b\" strings or of [a, b] pairs: %v", err)
	}
	out := make([]string, 0, len(asPairs))
	for i, p := range asPairs {
		if len(p) != 2 || p[0] == "" || p[1] == "" || strings.Contains(p[0], " ") || strings.Contains(p[1], " ") {
			return nil, fmt.Errorf("merge %d is %q, want two tokens without spaces", i, p)
		}
		out = append(out, p[0]+" "+p[1])
	}
	return out, nil
}
