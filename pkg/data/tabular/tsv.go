package tabular

import (
	"bytes"
	"strings"
)

// ReadLines is [SplitLines] on the file at path.
func ReadLines(path string) ([][]byte, error) { return readFile(path, SplitLines) }

// SplitLines returns the lines of data as Python's open(path).readlines()
// does in text mode with UTF-8 and universal newlines: "\r\n" and a lone
// "\r" become "\n", every line keeps its "\n", a last line without one is
// returned as it is, and nothing else ends a line (not "\v", "\f", U+2028,
// which str.splitlines would split on). A BOM is text there and stays in
// the first line. Line k of the file is element k-1. Without a "\r" in data
// the lines are subslices of data; otherwise they share one new buffer.
// name is used in errors: invalid UTF-8 (Python's UnicodeDecodeError) with
// its line, and an empty file, which wraps [ErrEmptyFile] (readlines would
// return no lines).
func SplitLines(name string, data []byte) ([][]byte, error) {
	if err := checkUTF8(name, data); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, emptyFile(name, "empty file")
	}
	norm := data
	if bytes.IndexByte(data, '\r') >= 0 {
		norm = make([]byte, 0, len(data))
		for i := 0; i < len(data); i++ {
			c := data[i]
			if c == '\r' {
				c = '\n'
				if i+1 < len(data) && data[i+1] == '\n' {
					i++
				}
			}
			norm = append(norm, c)
		}
	}
	lines := make([][]byte, 0, bytes.Count(norm, []byte{'\n'})+1)
	for len(norm) > 0 {
		i := bytes.IndexByte(norm, '\n')
		if i < 0 {
			lines = append(lines, norm)
			break
		}
		lines = append(lines, norm[:i+1:i+1])
		norm = norm[i+1:]
	}
	return lines, nil
}

// ReadTSV is [ParseTSV] on the file at path.
func ReadTSV(path string) ([]Record, error) { return readFile(path, ParseTSV) }

// ParseTSV reads data as the LM-BFF processors' _read_tsv does:
// csv.reader(open(path, encoding="utf-8-sig"), delimiter="\t",
// quotechar=None) under Python 3.11. quotechar=None means QUOTE_NONE, so
// quotes are text; fields are split on every tab and kept verbatim (spaces
// and NUL bytes included); a BOM at the start is dropped; lines end as in
// [SplitLines]. An empty line gives a record with no fields (Python's []);
// every line is a record, so Record.Line is its index plus one. name is
// used in errors, which are those of [SplitLines] (after the BOM is
// dropped, so a file holding only a BOM is empty). Record.NA is nil.
//
// Python before 3.11 fails on a NUL byte ("line contains NUL"); this reader
// follows 3.11 and keeps it.
func ParseTSV(name string, data []byte) ([]Record, error) {
	lines, err := SplitLines(name, bytes.TrimPrefix(data, utf8BOM))
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(lines))
	for i, l := range lines {
		recs[i].Line = i + 1
		if s := strings.TrimSuffix(string(l), "\n"); s != "" {
			recs[i].Fields = strings.Split(s, "\t")
		}
	}
	return recs, nil
}
