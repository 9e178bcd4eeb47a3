package lmbff

import (
	"strings"
	"unicode/utf8"
)

// pyLowerFirst is python's text[:1].lower() + text[1:].
func pyLowerFirst(s string) string {
	first, rest := firstRune(s)
	if m, ok := pyLowerSpecial[first]; ok {
		return m + rest
	}
	return strings.ToLower(first) + rest
}

// pyUpperFirst is python's text[:1].upper() + text[1:].
func pyUpperFirst(s string) string {
	first, rest := firstRune(s)
	if m, ok := pyUpperSpecial[first]; ok {
		return m + rest
	}
	return strings.ToUpper(first) + rest
}

// pyLowerSpecial and pyUpperSpecial are the unconditional full case mappings
// of Unicode's SpecialCasing.txt, which python's str.lower/upper apply and
// Go's simple per-rune mappings do not (the Greek iota-subscript forms are
// left out).
var pyLowerSpecial = map[string]string{
	"\u0130": "i\u0307", // İ
}

var pyUpperSpecial = map[string]string{
	"ß": "SS", "ŉ": "ʼN", "ǰ": "J̌", "ΐ": "Ϊ́", "ΰ": "Ϋ́", "և": "ԵՒ",
	"ẖ": "H̱", "ẗ": "T̈", "ẘ": "W̊", "ẙ": "Y̊", "ẚ": "Aʾ",
	"ﬀ": "FF", "ﬁ": "FI", "ﬂ": "FL", "ﬃ": "FFI", "ﬄ": "FFL", "ﬅ": "ST", "ﬆ": "ST",
	"ﬓ": "ՄՆ", "ﬔ": "ՄԵ", "ﬕ": "ՄԻ", "ﬖ": "ՎՆ", "ﬗ": "ՄԽ",
}

// dropLastRune is python's text[:-1].
func dropLastRune(s string) string {
	if s == "" {
		return s
	}
	_, n := utf8.DecodeLastRuneInString(s)
	return s[:len(s)-n]
}
