// Package tokenizer is gomezo's RoBERTa tokenizer: the byte-level BPE of
// GPT-2/RoBERTa/OPT, giving the ids of Hugging Face's slow RobertaTokenizer
// (transformers 4.28.1, add_prefix_space=False, loaded with from_pretrained so
// that <s> </s> <pad> <unk> <mask> are never split).
//
// # What comes from github.com/sugarme/tokenizer and what is ours
//
// sugarme/tokenizer v0.3.0 provides the BPE model: the vocabulary, its
// reverse, and the merge table (pair of ids -> rank and merged id), built by
// its bpe.New from the vocab.json/merges.txt or tokenizer.json contents, and
// the GPT-2 byte-to-unicode table (pretokenizer.BytesChar).
//
// sugarme's own pipeline differs from Hugging Face on 15 of the 1777 fixture
// cases (see shared/docs/FINDINGS.md), so this package does the rest itself:
//
//   - special tokens written inside the text are cut out first, as HF's
//     Trie.split does, and AddedToken lstrip/rstrip are honoured (<mask> eats
//     the whitespace on its left, using Python's str.isspace); sugarme dropped
//     them;
//   - the GPT-2 pre-tokenizer pattern (below) is matched by a hand-written
//     scanner: Go's regexp has no lookahead, and sugarme's pattern omits
//     \s+(?!\S), so it merged runs of newlines;
//   - BPE merges follow the reference algorithm exactly: repeatedly take the
//     adjacent pair with the lowest merge rank and merge all its occurrences
//     left to right (sugarme's merge loop gave a different order on long
//     digit strings and long runs of one letter);
//   - the empty string gives no ids instead of an error.
//
// The pre-tokenizer pattern, as compiled by Python's regex module:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// \s there is the Unicode White_Space property (not U+001C..U+001F, which
// Python's str.isspace, used for lstrip/rstrip, does include); \p{L} and
// \p{N} use Go's Unicode tables (15.0), so a character assigned in a later
// Unicode version may be classed differently than in the reference.
//
// BPE results are cached per pre-token (bounded; emptied when full).
//
// # Files and special tokens
//
// Load prefers vocab.json+merges.txt over tokenizer.json when a folder has
// both (the slow tokenizer reads those; for roberta-base both give the same
// ids). With vocab+merges the special tokens are RoBERTa's: <s> </s> <unk>
// <pad> <mask>, <mask> with lstrip; a GPT-2 vocabulary's <|endoftext|> serves
// as bos/eos/unk. With tokenizer.json every added_tokens entry is matched,
// with its lstrip/rstrip flags (single_word and normalized are ignored, as
// the slow tokenizer does). Neither loader reads added_tokens.json,
// special_tokens_map.json or tokenizer_config.json, and add_prefix_space is
// always false.
//
// # Input that is not valid UTF-8
//
// Go strings may hold any bytes; Python strings cannot. Text is first decoded
// the way Python's bytes.decode("utf-8", errors="replace") does: each maximal
// invalid subsequence becomes one U+FFFD, which is then tokenized normally.
//
// # Concurrency
//
// A *Tokenizer is immutable after loading apart from its internal cache,
// which is guarded by a mutex: it is safe for concurrent use by any number of
// goroutines. Slices returned by its methods belong to the caller.
package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sugarme/tokenizer/model"
	"github.com/sugarme/tokenizer/model/bpe"
	"github.com/sugarme/tokenizer/pretokenizer"
)

// Tokenizer is a loaded byte-level BPE tokenizer. Build one with Load,
// FromFiles or FromJSON; the zero value is not usable. It is safe for
// concurrent use.
type Tokenizer struct {
	source string // the file(s) it was loaded from, for messages

	model   *bpe.BPE // sugarme's model: vocabulary, reverse vocabulary, merges
	vocab   map[string]int
	idToTok map[int]string
	merges  map[bpe.Pair]bpe.PairVal

	byteChar [256]string // GPT-2 bytes_to_unicode, as strings
	byteID   [256]int    // vocabulary id of each byte's character, -1 if absent

	specials     []special // no-split tokens, longest first
	specialFirst [256]bool // first bytes of the specials

	bos, eos, pad, unk, mask int

	mu    sync.RWMutex
	cache map[string][]int // pre-token -> BPE symbols (see bpeWord)
}

// special is a token never split by BPE and matched inside text, with the
// stripping behaviour of HF's AddedToken.
type special struct {
	content string
	id      int
	lstrip  bool // eats whitespace on its left
	rstrip  bool // eats whitespace on its right
}

// cacheLimit bounds the per-word cache; when full it is emptied.
const cacheLimit = 1 << 17

// The file names a model directory may hold.
const (
	VocabFile     = "vocab.json"
	MergesFile    = "merges.txt"
	TokenizerJSON = "tokenizer.json"
)

// Load loads the tokenizer in dir. When dir holds both vocab.json and
// merges.txt they are used (they are what the slow RobertaTokenizer, the
// fixtures' reference, reads); otherwise dir/tokenizer.json is used. The
// special tokens of vocab+merges are RoBERTa's (<mask> with lstrip); with
// tokenizer.json they come from its added_tokens.
func Load(dir string) (*Tokenizer, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: model directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("tokenizer: %s is not a directory", dir)
	}
	vocab := filepath.Join(dir, VocabFile)
	merges := filepath.Join(dir, MergesFile)
	tj := filepath.Join(dir, TokenizerJSON)
	hasVocab, hasMerges, hasJSON := isFile(vocab), isFile(merges), isFile(tj)
	switch {
	case hasVocab && hasMerges:
		return FromFiles(vocab, merges)
	case hasJSON:
		return FromJSON(tj)
	case hasVocab:
		return nil, fmt.Errorf("tokenizer: %s has %s but no %s (and no %s)", dir, VocabFile, MergesFile, TokenizerJSON)
	case hasMerges:
		return nil, fmt.Errorf("tokenizer: %s has %s but no %s (and no %s)", dir, MergesFile, VocabFile, TokenizerJSON)
	default:
		return nil, fmt.Errorf("tokenizer: %s has neither %s nor %s+%s", dir, TokenizerJSON, VocabFile, MergesFile)
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// FromFiles loads a tokenizer from a vocab.json (token -> id) and a
// merges.txt (a "#version" line, then one "a b" merge per line, by rank).
func FromFiles(vocabPath, mergesPath string) (*Tokenizer, error) {
	vocab, err := readVocab(vocabPath)
	if err != nil {
		return nil, err
	}
	merges, err := readMerges(mergesPath)
	if err != nil {
		return nil, err
	}
	t, err := build(vocabPath+" + "+mergesPath, vocab, merges, nil)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// build makes the Tokenizer from a vocabulary, the merge lines in rank order,
// and the added tokens (nil: RoBERTa's defaults).
func build(source string, vocab map[string]int, mergeLines []string, added []special) (*Tokenizer, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty vocabulary", source)
	}
	m, err := bpe.New(model.Vocab(vocab), mergeLines, nil, nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: merges: %w", source, err)
	}
	t := &Tokenizer{
		source:  source,
		model:   m,
		vocab:   *m.Vocab,
		idToTok: *m.VocabR,
		merges:  *m.Merges,
		cache:   make(map[string][]int),
	}
	if len(t.idToTok) != len(t.vocab) {
		return nil, fmt.Errorf("tokenizer: %s: vocabulary maps several tokens to one id (%d tokens, %d ids)", source, len(t.vocab), len(t.idToTok))
	}
	for b := 0; b < 256; b++ {
		c, ok := pretokenizer.BytesChar[uint8(b)]
		if !ok {
			return nil, fmt.Errorf("tokenizer: internal: no byte-level character for byte %d", b)
		}
		t.byteChar[b] = c
		if id, ok := t.vocab[c]; ok {
			t.byteID[b] = id
		} else {
			t.byteID[b] = -1
		}
	}
	if err := t.setSpecials(added); err != nil {
		return nil, err
	}
	return t, nil
}

// roleNames lists, for each special role, the token names accepted, in order
// of preference: RoBERTa/OPT's, then GPT-2's single <|endoftext|>.
var roleNames = []struct {
	role     string
	names    []string
	required bool
}{
	{"bos", []string{"<s>", "<|endoftext|>"}, true},
	{"eos", []string{"</s>", "<|endoftext|>"}, true},
	{"unk", []string{"<unk>", "<|endoftext|>"}, true},
	{"pad", []string{"<pad>"}, false},
	{"mask", []string{"<mask>"}, false},
}

func (t *Tokenizer) setSpecials(added []special) error {
	ids := map[string]int{}
	for _, r := range roleNames {
		id := -1
		for _, n := range r.names {
			if v, ok := t.vocab[n]; ok {
				id = v
				break
			}
		}
		if id < 0 && r.required {
			return fmt.Errorf("tokenizer: %s: missing special token %s (%s) in the vocabulary", t.source, strings.Join(r.names, " or "), r.role)
		}
		ids[r.role] = id
	}
	t.bos, t.eos, t.unk, t.pad, t.mask = ids["bos"], ids["eos"], ids["unk"], ids["pad"], ids["mask"]

	seen := map[string]bool{}
	for _, a := range added {
		if a.content == "" || seen[a.content] {
			continue
		}
		seen[a.content] = true
		t.specials = append(t.specials, a)
	}
	// The role tokens are always no-split (HF's sanitize_special_tokens);
	// <mask> is AddedToken(lstrip=True) in RobertaTokenizer.
	for _, id := range []int{t.bos, t.eos, t.unk, t.pad, t.mask} {
		if id < 0 {
			continue
		}
		c := t.idToTok[id]
		if seen[c] {
			continue
		}
		seen[c] = true
		t.specials = append(t.specials, special{content: c, id: id, lstrip: id == t.mask})
	}
	sort.SliceStable(t.specials, func(i, j int) bool { return len(t.specials[i].content) > len(t.specials[j].content) })
	for _, sp := range t.specials {
		t.specialFirst[sp.content[0]] = true
	}
	return nil
}

// Encode returns the ids of text without special tokens around it (HF's
// encode(text, add_special_tokens=False)). Special tokens written inside text
// are matched. The empty string gives an empty, non-nil slice.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	ids, _, err := t.encode(text, false)
	return ids, err
}

// Tokenize returns the byte-level token strings of text (HF's tokenize), e.g.
// "Ġhello" for " hello".
func (t *Tokenizer) Tokenize(text string) ([]string, error) {
	_, toks, err := t.encode(text, true)
	return toks, err
}

// EncodeWithTokens returns both the ids and the token strings of text, in one
// pass, without special tokens around it.
func (t *Tokenizer) EncodeWithTokens(text string) ([]int, []string, error) {
	return t.encode(text, true)
}

// EncodeSpecial returns <s> a </s> (HF's encode(a)).
func (t *Tokenizer) EncodeSpecial(a string) ([]int, error) {
	ids, err := t.Encode(a)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ids)+2)
	out = append(out, t.CLS())
	out = append(out, ids...)
	return append(out, t.SEP()), nil
}

// EncodePair returns <s> a </s></s> b </s> (HF's encode(a, b) for RoBERTa).
func (t *Tokenizer) EncodePair(a, b string) ([]int, error) {
	ia, err := t.Encode(a)
	if err != nil {
		return nil, err
	}
	ib, err := t.Encode(b)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ia)+len(ib)+4)
	out = append(out, t.CLS())
	out = append(out, ia...)
	out = append(out, t.SEP(), t.SEP())
	out = append(out, ib...)
	return append(out, t.SEP()), nil
}

// TokenToID looks tok up in the vocabulary as it is (HF's
// convert_tokens_to_ids without the fallback to <unk>).
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	id, ok := t.vocab[tok]
	return id, ok
}

// IDToToken returns the vocabulary token of id.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	tok, ok := t.idToTok[id]
	return tok, ok
}

// VocabSize is the number of vocabulary entries (50265 for RoBERTa).
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// BOS is the id of <s> (0 for RoBERTa).
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the id of </s> (2 for RoBERTa).
func (t *Tokenizer) EOS() int { return t.eos }

// PAD is the id of <pad> (1 for RoBERTa), -1 when the vocabulary has none.
func (t *Tokenizer) PAD() int { return t.pad }

// UNK is the id of <unk> (3 for RoBERTa).
func (t *Tokenizer) UNK() int { return t.unk }

// Mask is the id of <mask> (50264 for RoBERTa), -1 when the vocabulary has none.
func (t *Tokenizer) Mask() int { return t.mask }

// CLS is RoBERTa's classifier token, <s>.
func (t *Tokenizer) CLS() int { return t.bos }

// SEP is RoBERTa's separator token, </s>.
func (t *Tokenizer) SEP() int { return t.eos }

// Source names the file(s) the tokenizer was loaded from.
func (t *Tokenizer) Source() string { return t.source }

// LabelWordID returns the id of an LM-BFF/MeZO label word (MEZO_SPEC §7.3,
// dataset.py:296-314): " "+word must tokenize to exactly one token, whose id
// is returned; a word starting with '<', '[', '.' or ',' is looked up raw in
// the vocabulary. Where the reference would assert (not one token) or
// silently use <unk> (raw word not in the vocabulary), this returns an error
// naming the word.
func (t *Tokenizer) LabelWordID(word string) (int, error) {
	if word == "" {
		return 0, errors.New("tokenizer: empty label word")
	}
	switch word[0] {
	case '<', '[', '.', ',':
		id, ok := t.vocab[word]
		if !ok {
			return 0, fmt.Errorf("tokenizer: label word %q is used raw (it starts with %q) but is not in the vocabulary", word, word[:1])
		}
		return id, nil
	}
	ids, toks, err := t.encode(" "+word, true)
	if err != nil {
		return 0, err
	}
	if len(ids) != 1 {
		return 0, fmt.Errorf("tokenizer: label word %q: %q is %d tokens %q, not one", word, " "+word, len(toks), toks)
	}
	return ids[0], nil
}

// encode tokenizes text; it builds the token strings only when wantTokens.
func (t *Tokenizer) encode(text string, wantTokens bool) ([]int, []string, error) {
	if t == nil || t.vocab == nil {
		return nil, nil, errors.New("tokenizer: not loaded (use Load, FromFiles or FromJSON)")
	}
	if !utf8.ValidString(text) {
		text = replaceInvalidUTF8(text)
	}
	ids := []int{}
	var toks []string
	if wantTokens {
		toks = []string{}
	}
	for _, p := range t.splitSpecials(text) {
		if p.special >= 0 {
			sp := t.specials[p.special]
			ids = append(ids, sp.id)
			if wantTokens {
				toks = append(toks, sp.content)
			}
			continue
		}
		preTokenize(p.text, func(word string) {
			for _, s := range t.bpeWord(word) {
				ids = append(ids, t.symbolID(s))
				if wantTokens {
					toks = append(toks, t.symbolString(s))
				}
			}
		})
	}
	return ids, toks, nil
}
