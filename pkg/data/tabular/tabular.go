// Package tabular reads the comma- and tab-separated data files of LM-BFF and
// MeZO exactly as the reference's Python reads them. It is the one place that
// knows those formats; kshot (which regenerates the files byte for byte) and
// lmbff (which turns them into examples) both read through it.
//
// Three readings are reproduced:
//
//   - [ParseCSV]: pandas.read_csv(path, header=None) as pandas 1.5.3 tokenizes
//     with its C engine and default options (the reference's CSV tasks:
//     sst-5, mr, cr, mpqa, subj, trec). Field values are kept as text; type
//     inference is the caller's, except that [Record.NA] flags what pandas'
//     default na_values turn into NaN.
//   - [SplitLines]: open(path).readlines() in text mode, UTF-8, universal
//     newlines (generate_k_shot_data.py on GLUE files): lines kept whole,
//     ends normalized to "\n", a BOM kept.
//   - [ParseTSV]: csv.reader(open(path, encoding="utf-8-sig"),
//     delimiter="\t", quotechar=None) as Python 3.11 reads it (the LM-BFF
//     processors' _read_tsv).
//
// [CheckWidth] applies pandas' rule on row widths to CSV records, and
// [AppendField] writes a CSV field as DataFrame.to_csv does (csv.writer,
// QUOTE_MINIMAL), the inverse of the reader that kshot needs to write its
// splits; the rest of to_csv's formatting (int64 labels, NaN) is kshot's.
//
// Where the reference fails, or pandas would misread a file (a tokenizer
// bug), these readers return an error naming the file and the line instead
// of a result that silently differs; each case is in the function's
// documentation, as is the one known divergence they do not detect. Every error about a place in a file is an
// [*Error], which prints as "file:line: message". Nothing here panics on bad
// input.
package tabular

import (
	"errors"
	"fmt"
	"os"
	"unicode/utf8"
)

// Record is one row of a data file.
type Record struct {
	// Line is the 1-based line on which the row starts. A quoted CSV field
	// may span lines; the next record's Line counts them.
	Line int
	// Fields are the row's fields, verbatim (CSV quotes removed).
	Fields []string
	// NA marks the fields pandas reads as NaN (CSV only; nil for TSV): an
	// empty field or one of pandas' default missing-value strings such as
	// "NA" or "null" (see [IsNA]). The reference turns a NaN sentence into
	// "" and writes NaN back as an empty field.
	NA []bool
}

// ErrEmptyFile is wrapped by the error for a file with no content, and for
// a CSV file with nothing but blank lines (pandas' EmptyDataError).
var ErrEmptyFile = errors.New("empty file")

// Error is a problem in a named file, at a line of it when Line > 0.
type Error struct {
	File string
	Line int
	Msg  string
	Err  error // a sentinel such as ErrEmptyFile, or nil
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(file string, line int, format string, a ...any) error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

func emptyFile(file, msg string) error {
	return &Error{File: file, Msg: msg, Err: ErrEmptyFile}
}

// readFile is parse on the contents of the file at path.
func readFile[T any](path string, parse func(name string, data []byte) (T, error)) (T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(path, data)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// checkUTF8 returns an error naming the line of the first byte of data that
// is not UTF-8. Python decodes strictly and so fails on such a file wherever
// the byte is; Go's utf8.Valid rejects exactly what Python's codec rejects
// (overlong forms, surrogates, code points past U+10FFFF).
func checkUTF8(name string, data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	off := 0
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	return errorf(name, lineAt(data, off), "invalid UTF-8")
}

// lineAt is the 1-based line holding byte offset off, lines being ended by
// "\n", "\r\n" or a lone "\r".
func lineAt(data []byte, off int) int {
	line := 1
	for i := 0; i < off && i < len(data); i++ {
		if data[i] == '\n' || (data[i] == '\r' && (i+1 >= len(data) || data[i+1] != '\n')) {
			line++
		}
	}
	return line
}
