package kshot

import (
	"testing"

	"github.com/gomezo/gomezo/pkg/data/tabular"
)

// The readers themselves are fuzzed in package tabular; these fuzz what
// kshot does with their output.

// FuzzCSVRows: rendering parsed CSV records as to_csv rows never panics and,
// when it succeeds, gives one row and one label per record.
func FuzzCSVRows(f *testing.F) {
	for _, s := range []string{
		"1,a\n2,b\n",
		"1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n",
		"1,\"two\nlines\"\r\n2,x\r\n",
		"\ufeff1,a\n\n  \n2,b",
		"1,\"x\"y\"z\"\n3, \"q\"\n",
		"1,x\x00y\n",
		"a,b,c\n,\n\"\"\n",
		" 7 ,NA\n+1,1.5\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := tabular.ParseCSV("fuzz", b)
		if err != nil {
			return
		}
		rows, labels, err := csvRows("fuzz", recs)
		if err == nil && (len(rows) != len(recs) || len(labels) != len(recs)) {
			t.Fatalf("csvRows: %d rows %d labels for %d records", len(rows), len(labels), len(recs))
		}
	})
}

// FuzzGlueLabel: the GLUE label extraction never panics on the lines
// readlines gives.
func FuzzGlueLabel(f *testing.F) {
	for _, s := range []string{"h\tl\na\t1\n", "a\r\nb\rc", "\n\n", "x\t \t\u00a0\n", "0\t1\t2\t3\t4\t5\t6\t7\t8\tnan\n", "0\t1\t2\t3\t4\t5\t6\t7\t8\t0x1p-2\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := tabular.SplitLines("fuzz", b)
		if err != nil {
			return
		}
		for _, l := range lines {
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
