package tabular

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     [][]string
		// python is Python 3.11.2's list(csv.reader(io.TextIOWrapper(
		// io.BytesIO(in), encoding="utf-8-sig"), delimiter="\t",
		// quotechar=None)), where recorded.
		python string
	}{
		{name: "plain", in: "sentence\tlabel\nit 's good \t1\n", want: [][]string{{"sentence", "label"}, {"it 's good ", "1"}}},
		{name: "no final newline", in: "a\tb\nc\td", want: [][]string{{"a", "b"}, {"c", "d"}}},
		{name: "crlf and cr", in: "a\tb\r\nc\td\re\tf\n", want: [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}}},
		{name: "quotes are text", in: "\"a\"\t'b'\n", want: [][]string{{"\"a\"", "'b'"}}},
		{name: "quotes do not hide tabs", in: "\"a\tb\"\t'c\n", want: [][]string{{`"a`, `b"`, "'c"}}, python: `[['"a', 'b"', "'c"]]`},
		{name: "bom", in: "\ufeffx\ty\n", want: [][]string{{"x", "y"}}, python: `[['x', 'y']]`},
		{name: "empty line", in: "a\tb\n\nc\td\n", want: [][]string{{"a", "b"}, nil, {"c", "d"}}},
		{name: "empty line after crlf", in: "a\tb\r\n\rc", want: [][]string{{"a", "b"}, nil, {"c"}}, python: `[['a', 'b'], [], ['c']]`},
		{name: "empty fields", in: "\t\n", want: [][]string{{"", ""}}},
		{name: "nul kept", in: "a\x00b\tc\n", want: [][]string{{"a\x00b", "c"}}, python: `[['a\x00b', 'c']]`},
		{name: "only cr and lf end lines", in: "a\u2028b\f\tc\n", want: [][]string{{"a\u2028b\f", "c"}}, python: `[['a\u2028b\x0c', 'c']]`},
	} {
		recs, err := ParseTSV(tc.name, []byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := fields(recs); !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%s: got %q, want %q (python: %s)", tc.name, got, tc.want, tc.python)
		}
		for i, r := range recs {
			if r.Line != i+1 || r.NA != nil {
				t.Errorf("%s: record %d on line %d, NA %v", tc.name, i, r.Line, r.NA)
			}
		}
	}
}

func TestSplitLines(t *testing.T) {
	// python: io.TextIOWrapper(io.BytesIO(in), encoding="utf-8").readlines()
	// under Python 3.11.2.
	for _, tc := range []struct {
		in     string
		want   []string
		python string
	}{
		{"a\tb\r\n\rc", []string{"a\tb\n", "\n", "c"}, `['a\tb\n', '\n', 'c']`},
		{"\ufeffx\ty\n", []string{"\ufeffx\ty\n"}, `['\ufeffx\ty\n']`},
		{"\ufeff", []string{"\ufeff"}, `['\ufeff']`},
		{"a\u2028b\f\tc\n", []string{"a\u2028b\f\tc\n"}, `['a\u2028b\x0c\tc\n']`},
		{"\n\n", []string{"\n", "\n"}, ""},
	} {
		lines, err := SplitLines("f", []byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got []string
		for _, l := range lines {
			got = append(got, string(l))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q (python: %s)", tc.in, got, tc.want, tc.python)
		}
	}
	// Without a "\r" the lines are the input's own bytes.
	in := []byte("a\nb\n")
	lines, _ := SplitLines("f", in)
	if &lines[1][0] != &in[2] {
		t.Error("lines were copied")
	}
}

func TestTSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"empty", "", 0, "empty file"},
		{"bom only", "\ufeff", 0, "empty file"},
		// kshot's line reader gave no line for invalid UTF-8; lmbff's did.
		{"invalid utf-8", "a\tb\r\nc\rd\xff\n", 3, "invalid UTF-8"},
		{"surrogate", "a\n\xed\xa0\x80\n", 2, "invalid UTF-8"},
	} {
		_, err := ParseTSV("f.tsv", []byte(tc.in))
		var e *Error
		if !errors.As(err, &e) || e.File != "f.tsv" || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%s: error %v, want line %d and %q", tc.name, err, tc.line, tc.msg)
		}
		if (tc.msg == "empty file") != errors.Is(err, ErrEmptyFile) {
			t.Errorf("%s: errors.Is(%v, ErrEmptyFile) wrong", tc.name, err)
		}
		if tc.name == "bom only" {
			continue // readlines keeps the BOM as a line
		}
		_, err2 := SplitLines("f.tsv", []byte(tc.in))
		if err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: SplitLines error %v, ParseTSV %v", tc.name, err2, err)
		}
	}
}
