package tokenizer

import (
	"strings"

	"github.com/sugarme/tokenizer/model/bpe"
)

// A symbol is a vocabulary id (>= 0), or -1-b for a byte b whose byte-level
// character is not in the vocabulary (it never merges and encodes as <unk>;
// HF's slow tokenizer does the same through convert_tokens_to_ids).

func (t *Tokenizer) symbolID(s int) int {
	if s < 0 {
		return t.unk
	}
	return s
}

func (t *Tokenizer) symbolString(s int) string {
	if s < 0 {
		return t.byteChar[-1-s]
	}
	return t.idToTok[s]
}

// bpeWord returns the BPE symbols of one pre-token (raw UTF-8 bytes, before
// the byte-level mapping). The returned slice is shared with the cache and
// must not be modified.
func (t *Tokenizer) bpeWord(word string) []int {
	t.mu.RLock()
	syms, ok := t.cache[word]
	t.mu.RUnlock()
	if ok {
		return syms
	}
	syms = t.merge(word)
	t.mu.Lock()
	if len(t.cache) >= cacheLimit {
		t.cache = make(map[string][]int)
	}
	t.cache[strings.Clone(word)] = syms // word may share a large input's memory
	t.mu.Unlock()
	return syms
}

// merge is the reference's bpe(): start from one symbol per byte; while some
// adjacent pair has a merge rank, take the pair with the lowest rank and
// replace every occurrence of it, scanning left to right without overlap.
func (t *Tokenizer) merge(word string) []int {
	syms := make([]int, len(word))
	for i := 0; i < len(word); i++ {
		b := word[i]
		if id := t.byteID[b]; id >= 0 {
			syms[i] = id
		} else {
			syms[i] = -1 - int(b)
		}
	}
	for len(syms) > 1 {
		best := bpe.PairVal{Rank: -1}
		var bestPair bpe.Pair
		for i := 0; i+1 < len(syms); i++ {
			p := bpe.Pair{C1: syms[i], C2: syms[i+1]}
			v, ok := t.merges[p]
			if ok && (best.Rank < 0 || v.Rank < best.Rank) {
				best, bestPair = v, p
			}
		}
		if best.Rank < 0 {
			break
		}
		out := syms[:0]
		for i := 0; i < len(syms); {
			if i+1 < len(syms) && syms[i] == bestPair.C1 && syms[i+1] == bestPair.C2 {
				out = append(out, best.NewId)
				i += 2
			} else {
				out = append(out, syms[i])
				i++
			}
		}
		syms = out
	}
	return syms
}
