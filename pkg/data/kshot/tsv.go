package kshot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// pyIsSpace reports whether Python's str.isspace holds for r (Go's
// unicode.IsSpace plus the separators U+001C..U+001F).
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// glueLabel returns the grouping label of one GLUE training line as LM-BFF's
// get_label does (line.strip().split('\t') and the task's column), after
// checking the column count. lineNo is 1-based, for messages.
func glueLabel(t *taskSpec, line []byte) (string, error) {
	raw := strings.TrimSuffix(string(line), "\n")
	n := strings.Count(raw, "\t") + 1
	switch {
	case t.cols > 0 && n != t.cols:
		return "", fmt.Errorf("%d tab-separated columns, want %d", n, t.cols)
	case n < t.minCols:
		return "", fmt.Errorf("%d tab-separated columns, want at least %d", n, t.minCols)
	}
	f := strings.Split(strings.TrimFunc(raw, pyIsSpace), "\t")
	col := t.labelCol
	if col < 0 {
		col += len(f)
	}
	if col < 0 || col >= len(f) {
		return "", fmt.Errorf("no label column %d", t.labelCol)
	}
	label := f[col]
	if t.stsb {
		if strings.ContainsAny(label, "xXpP_") {
			return "", fmt.Errorf("score %q is not a number", label)
		}
		v, err := strconv.ParseFloat(label, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return "", fmt.Errorf("score %q is not a number", label)
		}
		if v < 2.5 {
			return "0", nil
		}
		return "1", nil
	}
	if label == "" {
		return "", errors.New("empty label")
	}
	return label, nil
}
