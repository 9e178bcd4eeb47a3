package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// robertaDir is the real roberta-base tokenizer folder in shared/.
func robertaDir(t testing.TB) string {
	t.Helper()
	return testenv.SharedPath(t, "data", "models", "roberta-base")
}

var (
	loadOnce                  sync.Once
	sharedFiles, sharedJSON   *Tokenizer
	loadErrFiles, loadErrJSON error
)

// loadBoth loads the roberta-base tokenizer from vocab+merges and from
// tokenizer.json, once per test binary.
func loadBoth(t testing.TB) (files, fromJSON *Tokenizer) {
	t.Helper()
	dir := robertaDir(t)
	loadOnce.Do(func() {
		sharedFiles, loadErrFiles = FromFiles(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt"))
		sharedJSON, loadErrJSON = FromJSON(filepath.Join(dir, "tokenizer.json"))
	})
	if loadErrFiles != nil {
		t.Fatalf("FromFiles: %v", loadErrFiles)
	}
	if loadErrJSON != nil {
		t.Fatalf("FromJSON: %v", loadErrJSON)
	}
	return sharedFiles, sharedJSON
}

// fixtureRow is one line of tokenize.jsonl (and of the files listed in
// MEZO_TOKENIZER_FIXTURES).
type fixtureRow struct {
	Text   *string  `json:"text"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
	Source string   `json:"source"`
}

func readRows(t *testing.T, path string) []fixtureRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	defer f.Close()
	var rows []fixtureRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r fixtureRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s line %d: %v", path, line, err)
		}
		if r.Text == nil || r.IDs == nil {
			t.Fatalf("%s line %d: want \"text\" and \"ids\" fields", path, line)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", path)
	}
	return rows
}

// diff describes how got differs from want, element by element.
func diff[T comparable](got, want []T) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-2)
	return fmt.Sprintf("first difference at index %d (len got %d, want %d)\n\tgot  [%d:] %v\n\twant [%d:] %v",
		i, len(got), len(want), lo, clip(got[lo:], 8), lo, clip(want[lo:], 8))
}

func clip[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// checkRows compares Encode and Tokenize with every row and reports each
// mismatch with a diff. It returns the number of rows that matched.
func checkRows(t *testing.T, tok *Tokenizer, name string, rows []fixtureRow) int {
	t.Helper()
	ok := 0
	for i, r := range rows {
		ids, err := tok.Encode(*r.Text)
		if err != nil {
			t.Errorf("%s row %d %q: Encode: %v", name, i+1, *r.Text, err)
			continue
		}
		good := true
		if !reflect.DeepEqual(ids, r.IDs) {
			t.Errorf("%s row %d (%s) %q: ids differ: %s", name, i+1, r.Source, *r.Text, diff(ids, r.IDs))
			good = false
		}
		if r.Tokens != nil {
			toks, err := tok.Tokenize(*r.Text)
			if err != nil {
				t.Errorf("%s row %d %q: Tokenize: %v", name, i+1, *r.Text, err)
				continue
			}
			if !reflect.DeepEqual(toks, r.Tokens) {
				t.Errorf("%s row %d (%s) %q: tokens differ: %s", name, i+1, r.Source, *r.Text, diff(toks, r.Tokens))
				good = false
			}
		}
		if good {
			ok++
		}
	}
	t.Logf("%s: %d/%d rows match Hugging Face", name, ok, len(rows))
	return ok
}

func TestTokenizeFixture(t *testing.T) {
	files, fromJSON := loadBoth(t)
	rows := readRows(t, testenv.SharedPath(t, "fixtures", "tokenizer", "tokenize.jsonl"))
	if len(rows) != 1777 {
		t.Errorf("tokenize.jsonl: %d rows, the README says 1777", len(rows))
	}
	checkRows(t, files, "tokenize.jsonl (vocab+merges)", rows)
	checkRows(t, fromJSON, "tokenize.jsonl (tokenizer.json)", rows)
}

// TestExtraFixtures checks every file listed in MEZO_TOKENIZER_FIXTURES
// (colon-separated, the tokenize.jsonl format). A listed file that is missing
// or has no rows fails.
func TestExtraFixtures(t *testing.T) {
	paths := testenv.ListEnv("MEZO_TOKENIZER_FIXTURES")
	if len(paths) == 0 {
		t.Skip("MEZO_TOKENIZER_FIXTURES not set")
	}
	files, fromJSON := loadBoth(t)
	for _, p := range paths {
		// A relative path is taken from the working directory (the
		// package folder under go test), else from the repository root.
		if !filepath.IsAbs(p) {
			if _, err := os.Stat(p); err != nil {
				p = filepath.Join(testenv.RepoRoot(t), p)
			}
		}
		rows := readRows(t, p)
		checkRows(t, files, p+" (vocab+merges)", rows)
		checkRows(t, fromJSON, p+" (tokenizer.json)", rows)
	}
}

func TestEncodeSpecialFixture(t *testing.T) {
	files, fromJSON := loadBoth(t)
	path := testenv.SharedPath(t, "fixtures", "tokenizer", "encode_special.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	n, pairs := 0, 0
	for sc.Scan() {
		var r struct {
			Text     *string `json:"text"`
			TextPair *string `json:"text_pair"`
			IDs      []int   `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if r.Text == nil || r.IDs == nil {
			t.Fatalf("%s line %d: want text and ids", path, n+1)
		}
		n++
		for _, tok := range []*Tokenizer{files, fromJSON} {
			var got []int
			if r.TextPair != nil {
				got, err = tok.EncodePair(*r.Text, *r.TextPair)
			} else {
				got, err = tok.EncodeSpecial(*r.Text)
			}
			if err != nil {
				t.Errorf("line %d: %v", n, err)
				continue
			}
			if !reflect.DeepEqual(got, r.IDs) {
				t.Errorf("%s line %d %q (pair %v): %s", tok.Source(), n, *r.Text, r.TextPair != nil, diff(got, r.IDs))
			}
		}
		if r.TextPair != nil {
			pairs++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 || pairs == 0 {
		t.Fatalf("%s: %d lines, %d pairs: want both singles and pairs", path, n, pairs)
	}
	t.Logf("encode_special.jsonl: %d lines (%d pairs) compared", n, pairs)
}

func TestLabelWordsFixture(t *testing.T) {
	files, fromJSON := loadBoth(t)
	path := testenv.SharedPath(t, "fixtures", "tokenizer", "label_words.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		VocabSize int `json:"vocab_size"`
		BOS       int `json:"bos_token_id"`
		PAD       int `json:"pad_token_id"`
		EOS       int `json:"eos_token_id"`
		UNK       int `json:"unk_token_id"`
		Mask      int `json:"mask_token_id"`
		SEP       int `json:"sep_token_id"`
		CLS       int `json:"cls_token_id"`
		Words     []struct {
			Text      string   `json:"text"`
			Tokens    []string `json:"tokens"`
			IDs       []int    `json:"ids"`
			SingleTok bool     `json:"single_token"`
			ID        int      `json:"id"`
			LMBFFID   int      `json:"lmbff_id"`
		} `json:"label_words"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(fx.Words) == 0 {
		t.Fatalf("%s: no label words", path)
	}
	for _, tok := range []*Tokenizer{files, fromJSON} {
		name := tok.Source()
		got := []int{tok.VocabSize(), tok.BOS(), tok.PAD(), tok.EOS(), tok.UNK(), tok.Mask(), tok.SEP(), tok.CLS()}
		want := []int{fx.VocabSize, fx.BOS, fx.PAD, fx.EOS, fx.UNK, fx.Mask, fx.SEP, fx.CLS}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: [VocabSize BOS PAD EOS UNK Mask SEP CLS] = %v, want %v", name, got, want)
		}
		for _, w := range fx.Words {
			ids, toks, err := tok.EncodeWithTokens(w.Text)
			if err != nil {
				t.Errorf("%s %q: %v", name, w.Text, err)
				continue
			}
			if !reflect.DeepEqual(ids, w.IDs) || !reflect.DeepEqual(toks, w.Tokens) {
				t.Errorf("%s %q: got %v %q, want %v %q", name, w.Text, ids, toks, w.IDs, w.Tokens)
			}
			if (len(ids) == 1) != w.SingleTok {
				t.Errorf("%s %q: single token %v, want %v", name, w.Text, len(ids) == 1, w.SingleTok)
			}
			// lmbff_id: label words are given with their space (" great");
			// the raw entries are '<' '[' '.' ',' words (the LM-BFF rule)
			// or one-character template parts ('?' ':'), which the
			// reference turns into ids with convert_tokens_to_ids.
			var lid int
			switch {
			case strings.HasPrefix(w.Text, " "):
				lid, err = tok.LabelWordID(w.Text[1:])
			case strings.ContainsAny(w.Text[:1], "<[.,"):
				lid, err = tok.LabelWordID(w.Text)
			default:
				var ok bool
				lid, ok = tok.TokenToID(w.Text)
				if !ok {
					err = fmt.Errorf("%q not in the vocabulary", w.Text)
				}
			}
			if err != nil {
				t.Errorf("%s %q: %v", name, w.Text, err)
			} else if lid != w.LMBFFID {
				t.Errorf("%s %q: label word id %d, want lmbff_id %d", name, w.Text, lid, w.LMBFFID)
			}
		}
	}
	t.Logf("label_words.json: %d words compared", len(fx.Words))
}
