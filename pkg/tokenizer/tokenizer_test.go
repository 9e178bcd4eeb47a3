package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// writeTiny writes a small hand-made vocab.json and merges.txt into a
// temporary folder and returns their paths.
func writeTiny(t *testing.T, vocab map[string]int, merges ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	vb, err := json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	vp, mp := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	if err := os.WriteFile(vp, vb, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp, []byte("#version: 0.2\n"+strings.Join(merges, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return vp, mp
}

// tinyVocab has RoBERTa's specials, the byte-level characters a, b, Ġ (space)
// and the merge results used below; "c" is deliberately missing.
func tinyVocab() map[string]int {
	return map[string]int{
		"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3,
		"a": 4, "b": 5, "Ġ": 6, "ab": 7, "Ġa": 8, "aa": 9, "Ġab": 10,
		"<mask>": 11,
	}
}

// TestMergeOrderByHand checks the reference's BPE algorithm on cases worked
// out by hand from its definition (lowest rank first, all occurrences left to
// right without overlap).
func TestMergeOrderByHand(t *testing.T) {
	vp, mp := writeTiny(t, tinyVocab(), "a b", "Ġ a", "a a", "Ġa b")
	tok, err := FromFiles(vp, mp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		toks []string
		ids  []int
	}{
		// Ġ a b: (a,b) has rank 0 < (Ġ,a) rank 1, so ab first; (Ġ,ab) has
		// no merge: "Ġab" is never formed although it is in the vocabulary.
		{" ab", []string{"Ġ", "ab"}, []int{6, 7}},
		// Ġ a a: (Ġ,a) rank 1 < (a,a) rank 2 -> Ġa a; (Ġa,a) none.
		{" aa", []string{"Ġa", "a"}, []int{8, 4}},
		// a a a: (a,a) merged left to right without overlap -> aa a.
		{"aaa", []string{"aa", "a"}, []int{9, 4}},
		{"aaaa", []string{"aa", "aa"}, []int{9, 9}},
		// c is not in the vocabulary: its byte-level token, id <unk>.
		{"acb", []string{"a", "c", "b"}, []int{4, 3, 5}},
		{"", []string{}, []int{}},
		{"a<mask>", []string{"a", "<mask>"}, []int{4, 11}},
		// <mask> eats the spaces on its left (lstrip), not on its right.
		{"a  <mask> a", []string{"a", "<mask>", "Ġa"}, []int{4, 11, 8}},
	} {
		ids, toks, err := tok.EncodeWithTokens(tc.text)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if !reflect.DeepEqual(ids, tc.ids) || !reflect.DeepEqual(toks, tc.toks) {
			t.Errorf("%q: got %v %q, want %v %q", tc.text, ids, toks, tc.ids, tc.toks)
		}
	}
	if tok.PAD() != 1 || tok.Mask() != 11 || tok.VocabSize() != 12 {
		t.Errorf("PAD %d Mask %d VocabSize %d", tok.PAD(), tok.Mask(), tok.VocabSize())
	}
}

// TestGPT2Specials: a GPT-2 vocabulary has only <|endoftext|>, which serves
// as bos, eos and unk; pad and mask are absent (-1).
func TestGPT2Specials(t *testing.T) {
	vp, mp := writeTiny(t, map[string]int{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}, "a b")
	tok, err := FromFiles(vp, mp)
	if err != nil {
		t.Fatal(err)
	}
	got := []int{tok.BOS(), tok.EOS(), tok.UNK(), tok.PAD(), tok.Mask()}
	if want := []int{3, 3, 3, -1, -1}; !reflect.DeepEqual(got, want) {
		t.Errorf("BOS EOS UNK PAD Mask = %v, want %v", got, want)
	}
	ids, _ := tok.Encode("ab<|endoftext|>a")
	if want := []int{2, 3, 0}; !reflect.DeepEqual(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
}

// TestTokenizerJSONForms: merges as [a, b] pairs, and an added token with
// rstrip (it eats the whitespace on its right).
func TestTokenizerJSONForms(t *testing.T) {
	tj := map[string]any{
		"added_tokens": []map[string]any{
			{"id": 11, "content": "<mask>", "lstrip": true, "rstrip": false},
			{"id": 12, "content": "<sep>", "lstrip": false, "rstrip": true},
		},
		"model": map[string]any{
			"type":   "BPE",
			"vocab":  tinyVocab(),
			"merges": [][]string{{"a", "b"}, {"Ġ", "a"}},
		},
	}
	b, _ := json.Marshal(tj)
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := FromJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	ids, toks, _ := tok.EncodeWithTokens("ab <sep>  a")
	// "ab " then <sep> (no lstrip: the space stays, alone it is Ġ), then
	// "  a" loses its spaces (rstrip) -> "a".
	if want := []int{7, 6, 12, 4}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %v %q, want %v", ids, toks, want)
	}
	if id, ok := tok.TokenToID("<sep>"); !ok || id != 12 {
		t.Errorf("TokenToID(<sep>) = %d %v", id, ok)
	}
	if s, ok := tok.IDToToken(12); !ok || s != "<sep>" {
		t.Errorf("IDToToken(12) = %q %v", s, ok)
	}
}

// TestLoadBothAgree: Load prefers vocab+merges; a folder with only
// tokenizer.json loads that; both give the same ids on every fixture text
// and on the texts with special tokens around and inside them.
func TestLoadBothAgree(t *testing.T) {
	dir := robertaDir(t)
	viaDir, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(viaDir.Source(), "vocab.json") {
		t.Errorf("Load(%s) used %s, want vocab.json+merges.txt", dir, viaDir.Source())
	}
	only := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(only, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	viaJSON, err := Load(only)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(viaJSON.Source(), "tokenizer.json") {
		t.Errorf("Load(%s) used %s", only, viaJSON.Source())
	}
	if viaDir.VocabSize() != viaJSON.VocabSize() {
		t.Fatalf("vocab sizes %d and %d", viaDir.VocabSize(), viaJSON.VocabSize())
	}
	rows := readRows(t, testenv.SharedPath(t, "fixtures", "tokenizer", "tokenize.jsonl"))
	n := 0
	for _, r := range rows {
		for _, s := range []string{*r.Text, "<s>" + *r.Text + " <mask></s>", strings.ToUpper(*r.Text)} {
			a, _ := viaDir.Encode(s)
			b, _ := viaJSON.Encode(s)
			n++
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%q: vocab+merges %v, tokenizer.json %v", s, a, b)
			}
		}
	}
	for id := 0; id < viaDir.VocabSize(); id++ {
		a, _ := viaDir.IDToToken(id)
		b, _ := viaJSON.IDToToken(id)
		if a != b {
			t.Fatalf("id %d: %q vs %q", id, a, b)
		}
	}
	t.Logf("%d texts agree", n)
}

// TestByteTable checks sugarme's byte table against GPT-2's bytes_to_unicode,
// rewritten here from its definition.
func TestByteTable(t *testing.T) {
	tok, _ := loadBoth(t)
	var bs []int
	for b := '!'; b <= '~'; b++ {
		bs = append(bs, int(b))
	}
	for b := '¡'; b <= '¬'; b++ {
		bs = append(bs, int(b))
	}
	for b := '®'; b <= 'ÿ'; b++ {
		bs = append(bs, int(b))
	}
	want := map[int]rune{}
	for _, b := range bs {
		want[b] = rune(b)
	}
	n := 0
	for b := 0; b < 256; b++ {
		if _, ok := want[b]; !ok {
			want[b] = rune(256 + n)
			n++
		}
	}
	for b := 0; b < 256; b++ {
		if tok.byteChar[b] != string(want[b]) {
			t.Errorf("byte %d -> %q, want %q", b, tok.byteChar[b], string(want[b]))
		}
	}
}

// TestInvalidUTF8: invalid bytes are decoded like Python's
// bytes.decode("utf-8", "replace"). The expected strings were printed by
// CPython 3 for these byte strings.
func TestInvalidUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"\xe2\x82x", "\ufffdx"},
		{"\xff\xfe", "\ufffd\ufffd"},
		{"\xf0\x9f\x98", "\ufffd"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
		{"\xc0\xaf", "\ufffd\ufffd"},
		{"a\x80b", "a\ufffdb"},
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"\xe0\x80\xaf", "\ufffd\ufffd\ufffd"},
		{"\xf0\x9f\x98\x80\xf0\x9f", "\U0001f600\ufffd"},
	} {
		if got := replaceInvalidUTF8(tc.in); got != tc.want {
			t.Errorf("%q -> %+q, want %+q", tc.in, got, tc.want)
		}
	}
	tok, _ := loadBoth(t)
	a, err := tok.Encode("caf\xe9 \xe2\x82 ok")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tok.Encode("caf\ufffd \ufffd ok")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("invalid UTF-8 %v, replaced %v", a, b)
	}
}

func TestLabelWordID(t *testing.T) {
	tok, _ := loadBoth(t)
	// The expected ids come from Encode of the spaced word (checked against
	// HF by the fixtures), not from this function.
	for _, w := range []string{"great", "terrible", "Yes"} {
		ids, _ := tok.Encode(" " + w)
		id, err := tok.LabelWordID(w)
		if err != nil || len(ids) != 1 || id != ids[0] {
			t.Errorf("LabelWordID(%q) = %d, %v; Encode(\" %s\") = %v", w, id, err, w, ids)
		}
	}
	for _, tc := range []struct{ word, want string }{
		{"unbelievablyfrobnicated", "unbelievablyfrobnicated"},
		{"<nosuchtoken>", "<nosuchtoken>"},
		{"", "empty"},
	} {
		_, err := tok.LabelWordID(tc.word)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LabelWordID(%q): error %v, want one naming %q", tc.word, err, tc.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := robertaDir(t)
	realVocab, realMerges := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	tmp := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badJSON := write("bad.json", `{"a": 1,`)
	badIDs := write("badids.json", `{"a": "x"}`)
	noMask := write("nospecial.json", `{"a": 0, "b": 1, "ab": 2}`)
	badMerges := write("bad_merges.txt", "#version: 0.2\na b c\n")
	okMerges := write("merges.txt", "#version: 0.2\na b\n")
	orphanMerge := write("orphan.txt", "#version: 0.2\na b\n")
	orphanVocab := write("orphan.json", `{"<s>":0,"</s>":1,"<unk>":2,"a":3,"b":4}`)
	emptyDir := t.TempDir()
	notTokJSON := write("tokenizer.json", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`)
	noModel := write("nomodel.json", `{"added_tokens": []}`)

	for _, tc := range []struct {
		name string
		load func() (*Tokenizer, error)
		want []string // substrings of the error
	}{
		{"missing vocab", func() (*Tokenizer, error) { return FromFiles(filepath.Join(tmp, "none.json"), realMerges) }, []string{"none.json"}},
		{"missing merges", func() (*Tokenizer, error) { return FromFiles(realVocab, filepath.Join(tmp, "none.txt")) }, []string{"none.txt"}},
		{"missing tokenizer.json", func() (*Tokenizer, error) { return FromJSON(filepath.Join(tmp, "none-tok.json")) }, []string{"none-tok.json"}},
		{"malformed vocab", func() (*Tokenizer, error) { return FromFiles(badJSON, realMerges) }, []string{"bad.json", "JSON"}},
		{"vocab ids not integers", func() (*Tokenizer, error) { return FromFiles(badIDs, realMerges) }, []string{"badids.json"}},
		{"malformed merges", func() (*Tokenizer, error) { return FromFiles(realVocab, badMerges) }, []string{"bad_merges.txt", "line 2"}},
		{"missing special token", func() (*Tokenizer, error) { return FromFiles(noMask, okMerges) }, []string{"nospecial.json", "missing special token", "<s>"}},
		{"merge result not in vocab", func() (*Tokenizer, error) { return FromFiles(orphanVocab, orphanMerge) }, []string{"orphan.json", "merges"}},
		{"malformed tokenizer.json", func() (*Tokenizer, error) { return FromJSON(badJSON) }, []string{"bad.json", "JSON"}},
		{"tokenizer.json not BPE", func() (*Tokenizer, error) { return FromJSON(notTokJSON) }, []string{"tokenizer.json", "WordPiece"}},
		{"tokenizer.json no model", func() (*Tokenizer, error) { return FromJSON(noModel) }, []string{"nomodel.json", "model"}},
		{"Load empty dir", func() (*Tokenizer, error) { return Load(emptyDir) }, []string{emptyDir, "tokenizer.json", "vocab.json"}},
		{"Load missing dir", func() (*Tokenizer, error) { return Load(filepath.Join(tmp, "nodir")) }, []string{"nodir"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.load()
			if err == nil {
				t.Fatalf("no error (got a tokenizer from %s)", tok.Source())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	var zero *Tokenizer
	if _, err := zero.Encode("x"); err == nil {
		t.Error("nil Tokenizer: no error")
	}
}

// TestConcurrent encodes the fixture texts from several goroutines at once
// (with a cold cache) and checks every result against a sequential run.
func TestConcurrent(t *testing.T) {
	dir := robertaDir(t)
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, testenv.SharedPath(t, "fixtures", "tokenizer", "tokenize.jsonl"))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := range rows {
				r := rows[(i*7+g*131)%len(rows)]
				ids, err := tok.Encode(*r.Text)
				if err != nil || !reflect.DeepEqual(ids, r.IDs) {
					select {
					case errs <- *r.Text:
					default:
					}
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent Encode(%q) wrong", s)
	}
}

func TestRunJSONLines(t *testing.T) {
	tok, _ := loadBoth(t)
	in := "{\"text\": \"\", \"x\": [1]}\n\n{\"text\": \"<s> hello </s>\", \"ids\": null}\r\n{\"text\": \"a\\u0000b\"}"
	var out bytes.Buffer
	if err := RunJSONLines(tok, strings.NewReader(in), &out, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d output lines for 3 records: %q", len(lines), out.String())
	}
	if lines[0] != `{"ids":[],"tokens":[]}` {
		t.Errorf("empty text gives %s", lines[0])
	}
	// "<s> hello </s>" is a tokenize.jsonl row: [0, 20760, 1437, 2].
	var o JSONLine
	if err := json.Unmarshal([]byte(lines[1]), &o); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 20760, 1437, 2}; !reflect.DeepEqual(o.IDs, want) || !reflect.DeepEqual(o.Tokens, []string{"<s>", "Ġhello", "Ġ", "</s>"}) {
		t.Errorf("line 2: %s", lines[1])
	}
	if !strings.Contains(lines[1], `"<s>"`) {
		t.Errorf("tokens are HTML-escaped: %s", lines[1])
	}

	out.Reset()
	if err := RunJSONLines(tok, strings.NewReader(`{"text":"hello"}`+"\n"), &out, true); err != nil {
		t.Fatal(err)
	}
	// encode_special.jsonl: "hello" -> [0, 42891, 2].
	if got := strings.TrimSpace(out.String()); got != `{"ids":[0,42891,2],"tokens":["<s>","hello","</s>"]}` {
		t.Errorf("special: %s", got)
	}

	for _, tc := range []struct{ in, want string }{
		{"{\"text\":\"a\"}\n[1,2]\n", "line 2"},
		{"{\"text\":\"a\"}\n\n{\"text\":null}\n", "line 3"},
		{"{\"text\":\"a\"}\n{\"text\":\"a\"", "line 2"},
	} {
		out.Reset()
		err := RunJSONLines(tok, strings.NewReader(tc.in), &out, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
		if !strings.HasPrefix(out.String(), `{"ids":[102],"tokens":["a"]}`) {
			t.Errorf("%q: lines before the bad one not written: %q", tc.in, out.String())
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	tok, _ := loadBoth(b)
	path := testenv.SharedPath(b, "fixtures", "tokenizer", "tokenize.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	nbytes := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct{ Text string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			b.Fatal(err)
		}
		texts = append(texts, r.Text)
		nbytes += len(r.Text)
	}
	b.SetBytes(int64(nbytes))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range texts {
			if _, err := tok.Encode(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}
