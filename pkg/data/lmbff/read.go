package lmbff

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Record is one row of a data file: its fields and the 1-based line on which
// it starts.
type Record struct {
	Line   int
	Fields []string
	// NA marks the fields pandas would read as NaN (CSV only; nil for TSV):
	// an empty field or one of pandas' default missing-value strings such as
	// "NA" or "null". The reference turns a NaN sentence into "".
	NA []bool
}

// ErrEmptyFile is returned (wrapped, with the file name) for a file with no
// content.
var ErrEmptyFile = errors.New("empty file")

// ReadTSV reads a tab-separated file the way the reference's
// DataProcessor._read_tsv does: open(path, encoding="utf-8-sig") with
// universal newlines and csv.reader(delimiter="\t", quotechar=None). Quotes
// mean nothing, fields are split on every tab and kept verbatim (trailing
// spaces included); a BOM at the start is dropped; "\n", "\r\n" and "\r" end
// a line. An empty line gives a record with no fields.
func ReadTSV(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lmbff: %w", err)
	}
	return ParseTSV(path, data)
}

// ParseTSV is ReadTSV on data already in memory; name is used in errors.
func ParseTSV(name string, data []byte) ([]Record, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(data) == 0 {
		return nil, fmt.Errorf("lmbff: %s: %w", name, ErrEmptyFile)
	}
	var recs []Record
	line := 1
	for start := 0; start < len(data); line++ {
		end := start
		for end < len(data) && data[end] != '\n' && data[end] != '\r' {
			end++
		}
		seg := data[start:end]
		if !utf8.Valid(seg) {
			return nil, fmt.Errorf("lmbff: %s:%d: invalid UTF-8", name, line)
		}
		var fields []string
		if len(seg) > 0 {
			fields = strings.Split(string(seg), "\t")
		}
		recs = append(recs, Record{Line: line, Fields: fields})
		start = end + 1
		if end+1 < len(data) && data[end] == '\r' && data[end+1] == '\n' {
			start++
		}
	}
	return recs, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// pandasNA is pandas 1.5's default na_values: a CSV field equal to one of
// these reads as NaN.
var pandasNA = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true,
	"-1.#QNAN": true, "-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true,
	"<NA>": true, "N/A": true, "NA": true, "NULL": true, "NaN": true, "n/a": true,
	"nan": true, "null": true,
}

// ReadCSV reads a comma-separated file the way the reference's
// pandas.read_csv(path, header=None) does (pandas 1.5, C parser, default
// dialect): fields may be quoted with '"', a doubled quote inside quotes is
// a quote, quoted fields may span lines, a quote inside an unquoted field is
// literal, and blank (or whitespace-only) lines are skipped. Every row must
// have as many fields as the first, as pandas requires. Fields are kept
// verbatim; pandas' missing-value strings are flagged in Record.NA.
func ReadCSV(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lmbff: %w", err)
	}
	return ParseCSV(path, data)
}

// ParseCSV is ReadCSV on data already in memory; name is used in errors.
func ParseCSV(name string, data []byte) ([]Record, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(data) == 0 {
		return nil, fmt.Errorf("lmbff: %s: %w", name, ErrEmptyFile)
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, fmt.Errorf("lmbff: %s:%d: invalid UTF-8", name, lineAt(data, off))
	}
	const (
		startRecord = iota
		startField
		inField
		inQuoted
		quoteInQuoted
	)
	var (
		recs   []Record
		fields []string
		field  []byte
		state  = startRecord
		line   = 1
		recLn  = 1
		quoted = 0 // line where the open quoted field started
	)
	endField := func() {
		fields = append(fields, string(field))
		field = field[:0]
	}
	endRecord := func() {
		endField()
		recs = append(recs, Record{Line: recLn, Fields: fields})
		fields = nil
	}
	for i := 0; i < len(data); {
		c := data[i]
		nl := 0 // length of the line terminator at i, if any
		if c == '\n' {
			nl = 1
		} else if c == '\r' {
			nl = 1
			if i+1 < len(data) && data[i+1] == '\n' {
				nl = 2
			}
		}
		switch state {
		case startRecord:
			j := i
			for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
				j++
			}
			if j == len(data) {
				i = j // trailing whitespace: a blank last line
				continue
			}
			if data[j] == '\n' || data[j] == '\r' {
				// a blank or whitespace-only line is skipped
				i = j + 1
				if data[j] == '\r' && i < len(data) && data[i] == '\n' {
					i++
				}
				line++
				continue
			}
			recLn = line
			state = startField
			continue // the same byte starts the first field
		case startField, inField, quoteInQuoted:
			switch {
			case nl > 0:
				endRecord()
				state = startRecord
				i += nl
				line++
				continue
			case c == ',':
				endField()
				state = startField
			case c == '"' && state == startField:
				state = inQuoted
				quoted = line
			case c == '"' && state == quoteInQuoted:
				field = append(field, '"') // doubled quote
				state = inQuoted
			default:
				field = append(field, c)
				state = inField
			}
		case inQuoted:
			if c == '"' {
				state = quoteInQuoted
			} else {
				field = append(field, c)
				if nl == 1 && (c == '\n' || i+1 == len(data) || data[i+1] != '\n') {
					line++
				}
			}
		}
		i++
	}
	switch state {
	case inQuoted:
		return nil, fmt.Errorf("lmbff: %s:%d: end of file inside a quoted field", name, quoted)
	case startField, inField, quoteInQuoted:
		endRecord()
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("lmbff: %s: %w", name, ErrEmptyFile)
	}
	want := len(recs[0].Fields)
	for i := range recs {
		r := &recs[i]
		if len(r.Fields) != want {
			return nil, fmt.Errorf("lmbff: %s:%d: expected %d fields (as on line %d), got %d",
				name, r.Line, want, recs[0].Line, len(r.Fields))
		}
		r.NA = make([]bool, len(r.Fields))
		for j, f := range r.Fields {
			r.NA[j] = pandasNA[f]
		}
	}
	return recs, nil
}

// lineAt is the 1-based line holding byte offset off.
func lineAt(data []byte, off int) int {
	line := 1
	for i := 0; i < off && i < len(data); i++ {
		if data[i] == '\n' || (data[i] == '\r' && (i+1 >= len(data) || data[i+1] != '\n')) {
			line++
		}
	}
	return line
}
