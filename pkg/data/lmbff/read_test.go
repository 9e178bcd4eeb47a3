package lmbff

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

func fields(recs []Record) [][]string {
	var out [][]string
	for _, r := range recs {
		out = append(out, r.Fields)
	}
	return out
}

func TestParseTSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     [][]string
		lines    []int
	}{
		{"plain", "sentence\tlabel\nit 's good \t1\n", [][]string{{"sentence", "label"}, {"it 's good ", "1"}}, []int{1, 2}},
		{"no final newline", "a\tb\nc\td", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"crlf and cr", "a\tb\r\nc\td\re\tf\n", [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}}, []int{1, 2, 3}},
		{"quotes are text", "\"a\"\t'b'\n", [][]string{{"\"a\"", "'b'"}}, []int{1}},
		{"bom", "\ufeffx\ty\n", [][]string{{"x", "y"}}, []int{1}},
		{"empty line", "a\tb\n\nc\td\n", [][]string{{"a", "b"}, nil, {"c", "d"}}, []int{1, 2, 3}},
		{"empty fields", "\t\n", [][]string{{"", ""}}, []int{1}},
	} {
		recs, err := ParseTSV(tc.name, []byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := fields(recs); !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		for i, r := range recs {
			if r.Line != tc.lines[i] {
				t.Errorf("%s: record %d on line %d, want %d", tc.name, i, r.Line, tc.lines[i])
			}
		}
	}
}

func TestParseCSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     [][]string
		lines    []int
	}{
		{"plain", "0,a film .\n1,\"good , fun\"\n", [][]string{{"0", "a film ."}, {"1", "good , fun"}}, []int{1, 2}},
		{"doubled quote", "0,\"he said \"\"hi\"\" .\"\n", [][]string{{"0", "he said \"hi\" ."}}, []int{1}},
		{"quote inside unquoted field", "0,he said \"hi\" .\n", [][]string{{"0", "he said \"hi\" ."}}, []int{1}},
		{"text after closing quote", "0,\"ab\"cd\n", [][]string{{"0", "abcd"}}, []int{1}},
		{"multiline field", "0,\"a\nb\"\n1,c\n", [][]string{{"0", "a\nb"}, {"1", "c"}}, []int{1, 3}},
		{"blank lines skipped", "\n0,a\n\n  \n1,b\r\n", [][]string{{"0", "a"}, {"1", "b"}}, []int{2, 5}},
		{"trailing spaces kept", "0,a \n", [][]string{{"0", "a "}}, []int{1}},
		{"cr line ends", "0,a\r1,b", [][]string{{"0", "a"}, {"1", "b"}}, []int{1, 2}},
	} {
		recs, err := ParseCSV(tc.name, []byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := fields(recs); !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		for i, r := range recs {
			if r.Line != tc.lines[i] {
				t.Errorf("%s: record %d on line %d, want %d", tc.name, i, r.Line, tc.lines[i])
			}
		}
	}
	recs, err := ParseCSV("na", []byte("0,NA\n1,\n2,null\n3,None\n"))
	if err != nil {
		t.Fatal(err)
	}
	var na []bool
	for _, r := range recs {
		na = append(na, r.NA[1])
	}
	if !slices.Equal(na, []bool{true, true, true, false}) {
		t.Errorf("NA flags %v", na)
	}
}

// TestMalformed checks that bad files give errors naming the file and line.
func TestMalformed(t *testing.T) {
	sst2, _ := LookupTask("SST-2")
	rte, _ := LookupTask("RTE")
	trec, _ := LookupTask("trec")
	for _, tc := range []struct {
		name string
		task *Task
		file string // written to <dir>/<task file for train>; "" leaves it missing
		want string // substring of the error, after the path
	}{
		{"missing file", sst2, "", "no such file"},
		{"empty tsv", sst2, "", ""},
		{"empty csv", trec, "", ""},
		{"header only", sst2, "sentence\tlabel\n", "no examples"},
		{"short row", sst2, "sentence\tlabel\ngood\t1\nbad\n", ":3: SST-2 row has 1 columns"},
		{"long row", sst2, "sentence\tlabel\ngood\t1\tx\n", ":2: SST-2 row has 3 columns, the header has 2"},
		{"blank line", rte, "index\ts1\ts2\tlabel\n0\ta\tb\tentailment\n\n", ":3: RTE row has 0 columns"},
		{"unknown label", sst2, "sentence\tlabel\ngood\t1\nbad\t2\n", ":3: unknown SST-2 label \"2\""},
		{"unknown rte label", rte, "index\ts1\ts2\tlabel\n0\ta\tb\tneutral\n", ":2: unknown RTE label \"neutral\""},
		{"bad utf-8 tsv", sst2, "sentence\tlabel\ngood\t1\nb\xffd\t0\n", ":3: invalid UTF-8"},
		{"bad utf-8 csv", trec, "0,a\n1,\"b\nc\xff\"\n", ":3: invalid UTF-8"},
		{"csv column count", trec, "0,a\n1,b,c\n", ":2: expected 2 fields (as on line 1), got 3"},
		{"csv unknown label", trec, "0,a\n7,b\n", ":2: unknown trec label \"7\""},
		{"csv text label", trec, "0,a\nx,b\n", ":2: unknown trec label \"x\""},
		{"csv open quote", trec, "0,a\n1,\"b\n", ":2: end of file inside a quoted field"},
	} {
		dir := t.TempDir()
		path, _ := tc.task.Path(dir, SplitTrain)
		if tc.file != "" || strings.HasPrefix(tc.name, "empty") {
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := tc.task.Load(dir, SplitTrain)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path) {
			t.Errorf("%s: error %q does not name %s", tc.name, msg, path)
		}
		if strings.HasPrefix(tc.name, "empty") && !errors.Is(err, ErrEmptyFile) {
			t.Errorf("%s: error %q is not ErrEmptyFile", tc.name, msg)
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q lacks %q", tc.name, msg, tc.want)
		}
	}
}

// TestTrailingSpaceKept reads GLUE SST-2, whose sentences end in a space
// that the reference keeps.
func TestTrailingSpaceKept(t *testing.T) {
	task, _ := LookupTask("SST-2")
	ex, err := task.Load(testenv.SharedPath(t, "data", "original", "SST-2"), SplitDev)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 872 || !strings.HasSuffix(ex[0].TextA, " ") || ex[0].GUID != "dev-1" {
		t.Fatalf("%d examples, first %q (%s)", len(ex), ex[0].TextA, ex[0].GUID)
	}
}

func TestMNLIGuidAndColumns(t *testing.T) {
	task, _ := LookupTask("mnli")
	ex, err := task.Load(testenv.SharedPath(t, "data", "k-shot", "MNLI", "16-42"), SplitDev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ex[0].GUID, "dev_matched-") || !ex[0].HasB {
		t.Fatalf("first example %+v", ex[0])
	}
	mm, _ := LookupTask("MNLI-mm")
	if p, _ := mm.Path("d", SplitTest); filepath.Base(p) != "test_mismatched.tsv" {
		t.Fatalf("mnli-mm test file %s", p)
	}
}

var tsvSeeds = []string{
	"sentence\tlabel\nit 's good \t1\n", "a\tb\r\nc\td\re\tf", "\ufeffx\ty\n\n", "\t\t\n\xff\n", "",
}

var csvSeeds = []string{
	"0,a film .\n1,\"good , fun\"\n", "0,\"he said \"\"hi\"\" .\"\n", "0,\"a\nb\"\n1,c\r\n", "\n  \n0,NA\n",
	"0,\"ab\"cd\n", "0,\"open\n", "0,a\n1,b,c\n", "\xef\xbb\xbf0,x", "0,\xff",
}

// FuzzReadTSV checks that the TSV reader never panics, that a success
// yields valid UTF-8 fields without line breaks, and that joining the fields
// back gives the input's lines.
func FuzzReadTSV(f *testing.F) {
	for _, s := range tsvSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ParseTSV("fuzz", data)
		if err != nil {
			return
		}
		var lines []string
		for i, r := range recs {
			if i > 0 && r.Line <= recs[i-1].Line {
				t.Fatalf("line numbers not increasing: %d after %d", r.Line, recs[i-1].Line)
			}
			for _, fl := range r.Fields {
				if strings.ContainsAny(fl, "\r\n\t") {
					t.Fatalf("field %q holds a separator", fl)
				}
			}
			lines = append(lines, strings.Join(r.Fields, "\t"))
		}
		body := bytes.TrimPrefix(data, utf8BOM)
		norm := strings.ReplaceAll(strings.ReplaceAll(string(body), "\r\n", "\n"), "\r", "\n")
		norm = strings.TrimSuffix(norm, "\n")
		if got := strings.Join(lines, "\n"); got != norm {
			t.Fatalf("round trip %q != %q", got, norm)
		}
	})
}

// FuzzReadCSV checks that the CSV reader never panics, that a success has
// rows of equal width with increasing line numbers, and that writing the
// rows back with full quoting and reading them again gives the same rows.
func FuzzReadCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ParseCSV("fuzz", data)
		if err != nil {
			return
		}
		var b strings.Builder
		for i, r := range recs {
			if i > 0 && r.Line <= recs[i-1].Line {
				t.Fatalf("line numbers not increasing: %d after %d", r.Line, recs[i-1].Line)
			}
			if len(r.Fields) != len(recs[0].Fields) || len(r.NA) != len(r.Fields) {
				t.Fatalf("ragged rows")
			}
			for j, fl := range r.Fields {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`"` + strings.ReplaceAll(fl, `"`, `""`) + `"`)
			}
			b.WriteByte('\n')
		}
		again, err := ParseCSV("again", []byte(b.String()))
		if err != nil {
			// A row of only whitespace fields quoted is not blank, so
			// reading back cannot fail.
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		if !slices.EqualFunc(fields(again), fields(recs), slices.Equal) {
			t.Fatalf("round trip %q != %q", fields(again), fields(recs))
		}
	})
}
