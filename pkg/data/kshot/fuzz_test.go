package kshot

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

var csvSeeds = []string{
	"1,a\n2,b\n",
	"1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n",
	"1,\"two\nlines\"\r\n2,x\r\n",
	"\ufeff1,a\n\n  \n2,b",
	"1,\"x\"y\"z\"\n3, \"q\"\n",
	"1,\"unterminated\n",
	"1,a\r2,b\r",
	"1,x\x00y\n",
	"a,b,c\n,\n\"\"\n",
	"\t\n \t\r\n",
}

// FuzzReadCSV: the CSV reader never panics, and rows it returns survive a
// write (Python csv QUOTE_MINIMAL, as to_csv) and a second read, except where
// the reference cannot round-trip either (an unquoted '\r', a blank row).
func FuzzReadCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := readCSV(b)
		if err != nil {
			return
		}
		var out []byte
		var kept [][]string
		last := 0
		for _, r := range recs {
			if r.line < last || r.line < 1 {
				t.Fatalf("line numbers not increasing: %d after %d", r.line, last)
			}
			last = r.line
			if len(r.fields) == 0 {
				t.Fatal("record without fields")
			}
			if strings.Contains(strings.Join(r.fields, ""), "\r") ||
				(len(r.fields) == 1 && strings.Trim(r.fields[0], " \t") == "") {
				continue
			}
			for i, fl := range r.fields {
				if strings.IndexByte(fl, 0) >= 0 {
					t.Fatalf("field %q holds NUL", fl)
				}
				if i > 0 {
					out = append(out, ',')
				}
				out = appendCSVField(out, fl)
			}
			out = append(out, '\n')
			kept = append(kept, r.fields)
		}
		again, err := readCSV(out)
		if err != nil {
			t.Fatalf("re-read of %q: %v", out, err)
		}
		if len(again) != len(kept) {
			t.Fatalf("re-read %d records, want %d (%q)", len(again), len(kept), out)
		}
		for i := range kept {
			if fmt.Sprintf("%q", again[i].fields) != fmt.Sprintf("%q", kept[i]) {
				t.Fatalf("record %d: %q, want %q", i, again[i].fields, kept[i])
			}
		}
		// csvRows must fail cleanly or render one line per record.
		if rows, labels, err := csvRows(recs); err == nil && (len(rows) != len(recs) || len(labels) != len(recs)) {
			t.Fatalf("csvRows: %d rows %d labels for %d records", len(rows), len(labels), len(recs))
		}
	})
}

// FuzzSplitLines: the TSV line reader (Python readlines with universal
// newlines) loses nothing but '\r', and each line holds one "\n" at its end.
// The GLUE label extraction never panics on its lines.
func FuzzSplitLines(f *testing.F) {
	for _, s := range []string{"h\tl\na\t1\n", "a\r\nb\rc", "\n\n", "x\t \t\u00a0\n", "0\t1\t2\t3\t4\t5\t6\t7\t8\tnan\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := splitLines(b)
		if err != nil {
			if utf8.Valid(b) {
				t.Fatalf("valid UTF-8 rejected: %v", err)
			}
			return
		}
		want := bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		if got := bytes.Join(lines, nil); !bytes.Equal(got, want) {
			t.Fatalf("lines join to %q, want %q", got, want)
		}
		for i, l := range lines {
			if len(l) == 0 {
				t.Fatal("empty line")
			}
			if k := bytes.IndexByte(l, '\n'); k >= 0 && k != len(l)-1 || k < 0 && i != len(lines)-1 {
				t.Fatalf("line %d = %q", i, l)
			}
			for j := range taskTable {
				if taskTable[j].format == glue {
					glueLabel(&taskTable[j], l) //nolint:errcheck // only must not panic
				}
			}
		}
	})
}

func TestParseIntLabel(t *testing.T) {
	for in, want := range map[string]string{"3": "3", " 3": "3", "3 ": "3", "+3": "3", "-0": "0", "007": "7", "\t-12\t": "-12",
		"": "!", "+": "!", "+-1": "!", "1.0": "!", "1_0": "!", "x": "!", "9223372036854775808": "!"} {
		got, ok := parseIntLabel(in)
		if !ok {
			got = "!"
		}
		if got != want {
			t.Errorf("parseIntLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
