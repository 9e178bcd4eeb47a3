package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// piece is a part of the input: either a special token (special is its index
// in Tokenizer.specials) or plain text (special < 0).
type piece struct {
	text    string
	special int
}

// splitSpecials cuts text at the special tokens it contains, as HF 4.28's
// Trie.split does (leftmost match, longest first at one position), then
// applies AddedToken lstrip/rstrip to the neighbouring text with Python's
// str.rstrip/str.lstrip, and drops the text pieces left empty.
func (t *Tokenizer) splitSpecials(text string) []piece {
	var out []piece
	start := 0
	for i := 0; i < len(text); {
		k := t.specialAt(text, i)
		if k < 0 {
			i++
			continue
		}
		if i > start {
			out = append(out, piece{text: text[start:i], special: -1})
		}
		out = append(out, piece{text: t.specials[k].content, special: k})
		i += len(t.specials[k].content)
		start = i
	}
	if start < len(text) {
		out = append(out, piece{text: text[start:], special: -1})
	}
	for i, p := range out {
		if p.special < 0 {
			continue
		}
		sp := t.specials[p.special]
		if sp.rstrip && i+1 < len(out) && out[i+1].special < 0 {
			out[i+1].text = strings.TrimLeftFunc(out[i+1].text, pyIsSpace)
		}
		if sp.lstrip && i > 0 && out[i-1].special < 0 {
			out[i-1].text = strings.TrimRightFunc(out[i-1].text, pyIsSpace)
		}
	}
	kept := out[:0]
	for _, p := range out {
		if p.special >= 0 || p.text != "" {
			kept = append(kept, p)
		}
	}
	return kept
}

// specialAt returns the index of the special token starting at text[i], or -1.
// t.specials is sorted longest first, so the first hit is the longest.
func (t *Tokenizer) specialAt(text string, i int) int {
	if !t.specialFirst[text[i]] {
		return -1
	}
	rest := text[i:]
	for k, sp := range t.specials {
		if strings.HasPrefix(rest, sp.content) {
			return k
		}
	}
	return -1
}

// pyIsSpace is Python's str.isspace for one character (used by str.strip):
// Unicode White_Space plus the ASCII separators U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return (r >= 0x1c && r <= 0x1f) || unicode.Is(unicode.White_Space, r)
}

// reSpace is \s of the `regex` module that GPT-2's pattern is compiled with:
// exactly the Unicode White_Space property (not U+001C..U+001F).
func reSpace(r rune) bool { return unicode.Is(unicode.White_Space, r) }

func isLetter(r rune) bool { return unicode.IsLetter(r) } // \p{L}
func isNumber(r rune) bool { return unicode.IsNumber(r) } // \p{N}

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !reSpace(r) && !isLetter(r) && !isNumber(r) }

// preTokenize calls emit with each match of GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// over text, in order, as regex.findall does (alternatives tried in order at
// each position, leftmost first). Every character belongs to one of \s, \p{L},
// \p{N} or [^\s\p{L}\p{N}], so the matches cover the whole text. text must be
// valid UTF-8.
func preTokenize(text string, emit func(string)) {
	n := len(text)
	// runOf returns the end of the run of characters satisfying class
	// starting at byte i.
	runOf := func(i int, class func(rune) bool) int {
		for i < n {
			r, sz := utf8.DecodeRuneInString(text[i:])
			if !class(r) {
				break
			}
			i += sz
		}
		return i
	}
	for i := 0; i < n; {
		r, sz := utf8.DecodeRuneInString(text[i:])
		// 's|'t|'re|'ve|'m|'ll|'d
		if r == '\'' {
			if l := contraction(text[i+1:]); l > 0 {
				emit(text[i : i+1+l])
				i += 1 + l
				continue
			}
		}
		// ` ?X+` for X in \p{L}, \p{N}, [^\s\p{L}\p{N}]: the optional space
		// is taken when the character after it starts a run of X.
		j := i
		c := r
		if r == ' ' && i+1 < n {
			c, _ = utf8.DecodeRuneInString(text[i+1:])
			j = i + 1
		}
		var class func(rune) bool
		switch {
		case isLetter(c):
			class = isLetter
		case isNumber(c):
			class = isNumber
		case isOther(c):
			class = isOther
		}
		if class != nil {
			end := runOf(j, class)
			emit(text[i:end])
			i = end
			continue
		}
		// Here r is whitespace (a lone ' ' at the end, or ' ' followed by
		// whitespace, or another \s character).
		end := runOf(i, reSpace)
		if end < n {
			// \s+(?!\S): the run is followed by a non-space; give back its
			// last character, if that leaves at least one.
			_, last := utf8.DecodeLastRuneInString(text[i:end])
			if end-last > i {
				end -= last
			}
			// otherwise \s+ takes the single whitespace character
		}
		if end == i { // cannot happen for valid input; never loop forever
			end = i + sz
		}
		emit(text[i:end])
		i = end
	}
}

// contraction returns the length of the contraction suffix ('s 't 're 've 'm
// 'll 'd, lower case only) at the start of s (just after the apostrophe), or 0.
func contraction(s string) int {
	for _, c := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
		if strings.HasPrefix(s, c) {
			return len(c)
		}
	}
	return 0
}

// replaceInvalidUTF8 decodes s like Python's bytes.decode("utf-8",
// errors="replace"): each maximal invalid subsequence (the longest prefix of
// a well-formed sequence, or else one byte) becomes one U+FFFD.
func replaceInvalidUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, sz := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || sz > 1 {
			b.WriteString(s[i : i+sz])
			i += sz
			continue
		}
		b.WriteRune(utf8.RuneError)
		i += invalidPrefixLen(s[i:])
	}
	return b.String()
}

// invalidPrefixLen is the length of the maximal subpart of an ill-formed
// sequence at the start of s (Unicode §3.9, as CPython's decoder uses): the
// lead byte plus the continuation bytes that still fit a well-formed
// sequence; at least 1.
func invalidPrefixLen(s string) int {
	c := s[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	k := 1
	for ; k <= need && k < len(s); k++ {
		b := s[k]
		if k == 1 {
			if b < lo || b > hi {
				break
			}
		} else if b < 0x80 || b > 0xBF {
			break
		}
	}
	return k
}

// IsPythonSpace is Python's str.isspace for one character, what str.strip()
// strips: for code that mirrors the reference's string handling.
func IsPythonSpace(r rune) bool { return pyIsSpace(r) }
