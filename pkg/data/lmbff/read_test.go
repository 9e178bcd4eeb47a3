package lmbff

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

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
