package kshot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// lineError is an error at a 1-based line of a file.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func lineErrorf(line int, format string, a ...any) error {
	return &lineError{line: line, msg: fmt.Sprintf(format, a...)}
}

// csvRecord is one parsed CSV row and the 1-based line it starts on.
type csvRecord struct {
	fields []string
	line   int
}

// readCSV parses b as pandas.read_csv(path, header=None) tokenizes it with
// the C engine and default options: fields separated by ',', '"' quoting
// with "" for a quote, records ended by "\n", "\r\n" or "\r" outside quotes,
// empty and blank (spaces/tabs only) lines skipped, a leading UTF-8 BOM
// dropped, a quote after the start of a field taken literally, text after a
// closing quote appended to the field, and a field cut at its first NUL.
// Type inference is done by csvRows. Known divergence: pandas mis-tokenizes a
// line that starts with a blank after a lone "\r" line end (it backtracks
// past the "\r"); readCSV reads such a line as it reads any other.
func readCSV(b []byte) ([]csvRecord, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	b = trimBOM(b)
	var (
		recs   []csvRecord
		fields []string
		field  []byte
		line   = 1
		start  = 1
		i      = 0
	)
	endField := func() {
		s := field
		for k, c := range s {
			if c == 0 {
				s = s[:k]
				break
			}
		}
		fields = append(fields, string(s))
		field = field[:0]
	}
	endRecord := func() {
		endField()
		recs = append(recs, csvRecord{fields: fields, line: start})
		fields = nil
	}
	// eol consumes a line ending at b[i] if there is one.
	eol := func() bool {
		switch b[i] {
		case '\n':
			i++
		case '\r':
			i++
			if i < len(b) && b[i] == '\n' {
				i++
			}
		default:
			return false
		}
		line++
		return true
	}
	for i < len(b) {
		// Start of a record: skip empty and blank lines.
		j := i
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j == len(b) {
			break
		}
		if b[j] == '\n' || b[j] == '\r' {
			i = j
			eol()
			continue
		}
		start = line
		// Fields of one record.
		for {
			if i < len(b) && b[i] == '"' {
				i++
				for {
					if i >= len(b) {
						return nil, lineErrorf(start, "end of file inside a quoted field")
					}
					c := b[i]
					if c == '"' {
						if i+1 < len(b) && b[i+1] == '"' {
							field = append(field, '"')
							i += 2
							continue
						}
						i++
						break
					}
					if c == '\n' || (c == '\r' && (i+1 >= len(b) || b[i+1] != '\n')) {
						line++
					}
					field = append(field, c)
					i++
				}
			}
			// Unquoted part (or what follows a closing quote).
			for i < len(b) && b[i] != ',' && b[i] != '\n' && b[i] != '\r' {
				field = append(field, b[i])
				i++
			}
			if i < len(b) && b[i] == ',' {
				i++
				endField()
				continue
			}
			endRecord()
			if i < len(b) {
				eol()
			}
			break
		}
	}
	return recs, nil
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return b[3:]
	}
	return b
}

// naValues are pandas 1.5's default NA strings (read_csv na_values); such a
// field becomes NaN and to_csv writes it as an empty field.
var naValues = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "n/a": true, "nan": true, "null": true,
}

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

// appendCSVField appends s as Python's csv writer does with QUOTE_MINIMAL and
// lineterminator "\n" (what pandas' to_csv uses): quoted, with '"' doubled,
// when it holds ',', '"' or '\n'.
func appendCSVField(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\n") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for k := 0; k < len(s); k++ {
		if s[k] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[k])
	}
	return append(dst, '"')
}

// csvRows converts parsed "label,text" records into the lines to_csv writes
// for them, with the grouping label of each. It enforces what the pandas
// round trip needs to be reproduced exactly: two fields per row, an integer
// label (an int64 column) and a text column that is not all numbers.
func csvRows(recs []csvRecord) (rows [][]byte, labels []string, err error) {
	if len(recs) == 0 {
		return nil, nil, errors.New("no rows")
	}
	rows = make([][]byte, len(recs))
	labels = make([]string, len(recs))
	textual := false
	for i, r := range recs {
		if len(r.fields) != 2 {
			return nil, nil, lineErrorf(r.line, "%d comma-separated fields, want 2 (label,text)", len(r.fields))
		}
		label, ok := parseIntLabel(r.fields[0])
		if !ok {
			return nil, nil, lineErrorf(r.line, "label %q is not an integer", r.fields[0])
		}
		text := r.fields[1]
		if naValues[text] {
			text = ""
		} else if !textual && !looksNumeric(text) {
			textual = true
		}
		row := make([]byte, 0, len(label)+len(text)+4)
		row = append(row, label...)
		row = append(row, ',')
		row = appendCSVField(row, text)
		rows[i] = append(row, '\n')
		labels[i] = label
	}
	if !textual {
		nonNA := false
		for _, r := range recs {
			if !naValues[r.fields[1]] {
				nonNA = true
				break
			}
		}
		if nonNA {
			return nil, nil, errors.New("the text column holds only numbers, which pandas would reformat; not supported")
		}
	}
	return rows, labels, nil
}
