package lmbff

import (
	"strings"
	"unicode"
)

// fakeTok is a tiny deterministic tokenizer for unit tests: a word and the
// space before it make one token ("Ġword"), punctuation is a token of its
// own, and ids come from a fixed vocabulary (unknown pieces get ids from
// 1000 on, in order of first use).
type fakeTok struct {
	vocab map[string]int
	next  int
}

func newFakeTok() *fakeTok {
	v := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, ".": 4, "<mask>": 99,
		"Ġgreat": 10, "Ġterrible": 11, "ĠIt": 12, "Ġwas": 13, "?": 14, ",": 15, "ĠYes": 16, "ĠNo": 17, "ĠMaybe": 18}
	return &fakeTok{vocab: v, next: 1000}
}

func (f *fakeTok) id(tok string) int {
	if id, ok := f.vocab[tok]; ok {
		return id
	}
	f.vocab[tok] = f.next
	f.next++
	return f.vocab[tok]
}

func (f *fakeTok) Encode(text string) ([]int, error) {
	var ids []int
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			ids = append(ids, f.id(cur.String()))
			cur.Reset()
		}
	}
	for _, r := range text {
		switch {
		case r == ' ':
			flush()
			cur.WriteString("Ġ")
		case unicode.IsPunct(r):
			if s := cur.String(); s != "" && s != "Ġ" {
				flush()
			}
			cur.WriteRune(r)
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return ids, nil
}

func (f *fakeTok) TokenToID(tok string) (int, bool) { id, ok := f.vocab[tok]; return id, ok }
func (f *fakeTok) BOS() int                         { return 0 }
func (f *fakeTok) EOS() int                         { return 2 }
func (f *fakeTok) PAD() int                         { return 1 }
func (f *fakeTok) UNK() int                         { return 3 }
func (f *fakeTok) Mask() int                        { return 99 }
func (f *fakeTok) CLS() int                         { return 0 }
func (f *fakeTok) SEP() int                         { return 2 }
