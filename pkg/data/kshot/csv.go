package kshot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gomezo/gomezo/pkg/data/tabular"
)

// isASCIISpace is C's isspace in the "C" locale.
func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// parseIntLabel parses a label field as pandas' int64 conversion does
// (surrounding whitespace, an optional sign, decimal digits) and returns its
// canonical decimal form, which is how to_csv writes an int64 column.
func parseIntLabel(s string) (string, bool) {
	i, j := 0, len(s)
	for i < j && isASCIISpace(s[i]) {
		i++
	}
	for j > i && isASCIISpace(s[j-1]) {
		j--
	}
	t := s[i:j]
	d := strings.TrimLeft(t, "+-")
	if len(t)-len(d) > 1 || d == "" || strings.Trim(d, "0123456789") != "" {
		return "", false
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(v, 10), true
}

// looksNumeric reports whether pandas would read s as a number or boolean,
// for the check that the text column stays a text column.
func looksNumeric(s string) bool {
	switch s {
	case "True", "TRUE", "true", "False", "FALSE", "false":
		return true
	}
	if _, ok := parseIntLabel(s); ok {
		return true
	}
	t := strings.TrimFunc(s, func(r rune) bool { return r < 0x80 && isASCIISpace(byte(r)) })
	if t == "" || strings.ContainsAny(t, "xX_pP") {
		return false
	}
	_, err := strconv.ParseFloat(t, 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// csvRows converts the records of the CSV file at path ("label,text" rows)
// into the lines to_csv writes for them, with the grouping label of each. It
// enforces what the pandas round trip needs to be reproduced exactly: two
// fields per row, an integer label (an int64 column) and a text column that
// is not all numbers. A NaN text is written as an empty field.
func csvRows(path string, recs []tabular.Record) (rows [][]byte, labels []string, err error) {
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("%s: no rows", path)
	}
	rows = make([][]byte, len(recs))
	labels = make([]string, len(recs))
	textual, nonNA := false, false
	for i, r := range recs {
		if len(r.Fields) != 2 {
			return nil, nil, fmt.Errorf("%s:%d: %d comma-separated fields, want 2 (label,text)", path, r.Line, len(r.Fields))
		}
		label, ok := parseIntLabel(r.Fields[0])
		if !ok {
			return nil, nil, fmt.Errorf("%s:%d: label %q is not an integer", path, r.Line, r.Fields[0])
		}
		text := r.Fields[1]
		if tabular.IsNA(text) {
			text = ""
		} else {
			nonNA = true
			if !textual && !looksNumeric(text) {
				textual = true
			}
		}
		row := make([]byte, 0, len(label)+len(text)+4)
		row = append(row, label...)
		row = append(row, ',')
		row = tabular.AppendField(row, text)
		rows[i] = append(row, '\n')
		labels[i] = label
	}
	if nonNA && !textual {
		return nil, nil, fmt.Errorf("%s: the text column holds only numbers, which pandas would reformat; not supported", path)
	}
	return rows, labels, nil
}
