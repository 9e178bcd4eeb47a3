package tabular

import (
	"bytes"
	"strings"
)

// ReadCSV is [ParseCSV] on the file at path.
func ReadCSV(path string) ([]Record, error) { return readFile(path, ParseCSV) }

// ParseCSV reads data as pandas.read_csv(path, header=None) tokenizes it
// (pandas 1.5.3, C engine, default options); name is used in errors. It
// reproduces:
//
//   - a leading UTF-8 BOM is dropped;
//   - fields are separated by ',' and records end at "\n", "\r\n" or a lone
//     "\r" outside quotes;
//   - a field that starts with '"' is quoted: "" in it is a '"', and ',' and
//     line ends in it are text (kept verbatim, "\r\n" included); text after
//     the closing quote is appended to the field ("ab"cd reads abcd); a '"'
//     anywhere else is a literal character, and spaces are never stripped;
//   - empty lines and lines of only spaces and tabs are skipped (not other
//     white space: a line holding "\v" is a record);
//   - a field is cut at its first NUL byte (pandas keeps fields as C
//     strings), so "x\x00y" reads "x" and "\x00y" reads "" (NaN);
//   - a ',' right after an empty or blank line ended by a lone "\r" is
//     dropped (pandas' EAT_CRNL_NOP state swallows it): "0,a\n\r,b" reads
//     the rows [0 a] and [b].
//
// Records may differ in width here; see [CheckWidth] for pandas' rule.
// Record.NA flags the fields pandas' default na_values turn into NaN.
//
// It returns an error instead of a result where pandas fails or misreads:
//
//   - invalid UTF-8 (pandas raises UnicodeDecodeError), with its line;
//   - end of file inside a quoted field, at the line where the record
//     starts (pandas: "EOF inside string starting at row N", N being that
//     record's row; pandas does not count line ends inside quotes, this
//     reader does);
//   - an empty file, or one of blank lines only (pandas' EmptyDataError);
//     the error wraps [ErrEmptyFile];
//   - a line that starts with a space or tab but is not blank, after a lone
//     "\r" line end (or after the ',' dropped above). pandas' tokenizer
//     backtracks from such a line to the last "\n" and reads again what
//     lies between: it revives skipped blank lines, adds hundreds of
//     thousands of NaN rows or fails with "Buffer overflow caught", and is
//     right only in some cases (as when one record alone precedes the
//     line). That is not worth reproducing.
//
// One divergence is not detected: pandas reads a file in chunks of 262144
// characters (bytes, for an in-memory buffer), and the same backtracking
// stops at a chunk start, so a line whose leading blanks straddle a chunk
// boundary loses the blanks before it. This reader keeps them. (In LM-BFF's
// CSV files such a line would start with the integer label, which pandas
// parses the same either way.)
func ParseCSV(name string, data []byte) ([]Record, error) {
	if err := checkUTF8(name, data); err != nil {
		return nil, err
	}
	b := bytes.TrimPrefix(data, utf8BOM)
	if len(b) == 0 {
		return nil, emptyFile(name, "empty file")
	}
	var (
		recs   []Record
		fields []string
		field  []byte
		line   = 1
		start  = 1
		i      = 0
	)
	endField := func() {
		s := field
		if k := bytes.IndexByte(s, 0); k >= 0 {
			s = s[:k]
		}
		fields = append(fields, string(s))
		field = field[:0]
	}
	endRecord := func() {
		endField()
		recs = append(recs, Record{Line: start, Fields: fields})
		fields = nil
	}
	// eol consumes the line end at b[i] if there is one; lone reports a
	// lone "\r".
	eol := func() (ok, lone bool) {
		switch b[i] {
		case '\n':
			i++
		case '\r':
			i++
			if i < len(b) && b[i] == '\n' {
				i++
			} else {
				lone = true
			}
		default:
			return false, false
		}
		line++
		return true, lone
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
			if _, lone := eol(); lone && i < len(b) && b[i] == ',' {
				i++
			}
			continue
		}
		if j > i && i > 0 && b[i-1] != '\n' {
			return nil, errorf(name, line, `the line starts with a blank after a lone "\r" line end, which pandas misreads; not supported`)
		}
		start = line
		// Fields of one record.
		for {
			if i < len(b) && b[i] == '"' {
				i++
				for {
					if i >= len(b) {
						return nil, errorf(name, start, "end of file inside a quoted field")
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
	if len(recs) == 0 {
		return nil, emptyFile(name, "no rows, only blank lines")
	}
	for k := range recs {
		r := &recs[k]
		r.NA = make([]bool, len(r.Fields))
		for j, f := range r.Fields {
			r.NA[j] = IsNA(f)
		}
	}
	return recs, nil
}

// CheckWidth checks that every record has as many fields as the first.
// pandas (header=None) takes the first row's width as the table's and
// fails on a longer row ("Expected 2 fields in line 3, saw 3"); a shorter
// row it pads with NaN, which this check also rejects, as a row missing a
// column is almost always a broken file. name is used in errors.
func CheckWidth(name string, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	want := len(recs[0].Fields)
	for _, r := range recs {
		if len(r.Fields) != want {
			return errorf(name, r.Line, "expected %d fields (as on line %d), got %d", want, recs[0].Line, len(r.Fields))
		}
	}
	return nil
}

// naValues are pandas 1.5's default na_values (STR_NA_VALUES).
var naValues = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "n/a": true, "nan": true, "null": true,
}

// IsNA reports whether pandas 1.5's read_csv, with its default na_values,
// reads the field s as NaN. The match is exact: quoting does not matter
// ("NA" and "\"NA\"" are both NaN) and surrounding spaces do (" NA" is text).
func IsNA(s string) bool { return naValues[s] }

// AppendField appends s to dst as one CSV field the way Python 3.11's
// csv.writer does with QUOTE_MINIMAL and lineterminator "\n", which is what
// DataFrame.to_csv uses: quoted, with '"' doubled, when s holds ',', '"' or
// "\n". A "\r" is not a reason to quote (so a field holding one does not
// read back as written), and an empty field is written empty, which Python
// quotes only when it is a row's sole field.
func AppendField(dst []byte, s string) []byte {
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
