package kshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/nprand"
)

// officialTasks are the tasks whose LM-BFF 16-shot splits can be regenerated
// from ../shared/data/original, and the original folder each reads.
var officialTasks = map[string]string{
	"SST-2": "SST-2-original", // LM-BFF's sentence-level SST-2
	"sst-5": "sst-5",
	"trec":  "trec",
	"RTE":   "RTE",
}

// linkedDataDir returns a temporary data directory whose <task> entries are
// symlinks into ../shared/data/original, as the given map says.
func linkedDataDir(t testing.TB, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for task, src := range links {
		if err := os.Symlink(testenv.SharedPath(t, "data", "original", src), filepath.Join(dir, task)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listFiles returns the regular files below dir, relative to it.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// compareOfficial checks that out/<task>/16-<seed>/ holds exactly the files
// of the official LM-BFF folder, byte for byte. It returns the number of
// files compared.
func compareOfficial(t *testing.T, out string, tasks []string) int {
	t.Helper()
	n := 0
	for _, task := range tasks {
		for _, seed := range DefaultSeeds() {
			rel := filepath.Join(task, fmt.Sprintf("16-%d", seed))
			want := testenv.SharedPath(t, "data", "k-shot", rel)
			got := filepath.Join(out, rel)
			wantFiles, gotFiles := listFiles(t, want), listFiles(t, got)
			if strings.Join(wantFiles, " ") != strings.Join(gotFiles, " ") {
				t.Errorf("%s: files %v, want %v", rel, gotFiles, wantFiles)
				continue
			}
			for _, f := range wantFiles {
				w, g := sha(readFile(t, filepath.Join(want, f))), sha(readFile(t, filepath.Join(got, f)))
				if w != g {
					t.Errorf("%s/%s: sha256 %s, want %s", rel, f, g, w)
					continue
				}
				n++
			}
		}
	}
	return n
}

// TestOfficialKShot regenerates LM-BFF's official 16-shot splits of SST-2,
// sst-5, trec and RTE for all five seeds and compares every file.
func TestOfficialKShot(t *testing.T) {
	data := linkedDataDir(t, officialTasks)
	out := t.TempDir()
	tasks := []string{"SST-2", "sst-5", "trec", "RTE"}
	var log bytes.Buffer
	err := Generate(Options{Tasks: tasks, K: []int{16}, DataDir: data, OutputDir: out, Mode: ModeKShot, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	n := compareOfficial(t, out, tasks)
	t.Logf("%d files match the official k-shot splits by sha256", n)
	if want := 4 * 5 * 3; n != want {
		t.Errorf("compared %d files, want %d", n, want)
	}
	if got := strings.Count(log.String(), "kshot: wrote "); got != 20 {
		t.Errorf("log has %d 'wrote' lines, want 20:\n%s", got, log.String())
	}
}

// TestOneKTest checks k-shot-1k-test mode (MeZO's splits, which are not
// shipped) against the invariants in ../shared/data/README.md.
func TestOneKTest(t *testing.T) {
	data := linkedDataDir(t, map[string]string{"sst-5": "sst-5", "RTE": "RTE", "trec": "trec", "SST-2": "SST-2"})
	out := t.TempDir()
	err := Generate(Options{Tasks: []string{"sst-5", "RTE", "trec", "SST-2"}, K: []int{16, 512}, DataDir: data, OutputDir: out, Mode: ModeKShot1kTest})
	if err != nil {
		t.Fatal(err)
	}
	compared := 0

	// The 16-shot train/dev files of every task but SST-2 are LM-BFF's.
	for _, task := range []string{"sst-5", "RTE", "trec"} {
		for _, seed := range DefaultSeeds() {
			for _, f := range []string{"train", "dev"} {
				ext := ".csv"
				if task == "RTE" {
					ext = ".tsv"
				}
				rel := filepath.Join(task, fmt.Sprintf("16-%d", seed), f+ext)
				if sha(readFile(t, filepath.Join(out, rel))) != sha(readFile(t, testenv.SharedPath(t, "data", "k-shot", rel))) {
					t.Errorf("%s differs from the official file", rel)
				}
				compared++
			}
		}
	}

	// sst-5 test: the 1000 rows at RandomState(42).permutation(2210)[:1000]
	// of the official test.csv (whose permutation the fixture pins).
	full := strings.SplitAfter(string(readFile(t, testenv.SharedPath(t, "data", "k-shot", "sst-5", "16-13", "test.csv"))), "\n")
	full = full[:len(full)-1]
	if len(full) != 2210 {
		t.Fatalf("official sst-5 test has %d rows", len(full))
	}
	perm := nprand.New(42).Permutation(len(full))
	checkPermutationFixture(t, perm)
	var want strings.Builder
	for _, p := range perm[:1000] {
		want.WriteString(full[p])
	}
	for _, k := range []int{16, 512} {
		for _, seed := range DefaultSeeds() {
			p := filepath.Join(out, "sst-5", fmt.Sprintf("%d-%d", k, seed), "test.csv")
			if string(readFile(t, p)) != want.String() {
				t.Errorf("%s: not the 1000 sampled rows", p)
			}
			compared++
		}
	}

	// Tests under 1000 rows are kept whole: RTE and trec as in LM-BFF, SST-2
	// as the GLUE dev file.
	for _, seed := range DefaultSeeds() {
		for _, c := range []struct{ got, want string }{
			{filepath.Join("RTE", "%d-%d", "test.tsv"), testenv.SharedPath(t, "data", "original", "RTE", "dev.tsv")},
			{filepath.Join("trec", "%d-%d", "test.csv"), testenv.SharedPath(t, "data", "k-shot", "trec", "16-13", "test.csv")},
			{filepath.Join("SST-2", "%d-%d", "test.tsv"), testenv.SharedPath(t, "data", "original", "SST-2", "dev.tsv")},
		} {
			for _, k := range []int{16, 512} {
				p := filepath.Join(out, fmt.Sprintf(c.got, k, seed))
				if sha(readFile(t, p)) != sha(readFile(t, c.want)) {
					t.Errorf("%s differs from %s", p, c.want)
				}
				compared++
			}
		}
	}

	// 16-shot train/dev = the first 16 / next 16 rows per label of the
	// 512-shot train file; row counts as in the README table.
	rows := map[string][2]int{"sst-5": {2560, 2560}, "RTE": {1024, 1024}, "trec": {2646, 2243}, "SST-2": {1024, 1024}}
	for task, n := range rows {
		for _, seed := range DefaultSeeds() {
			dir := func(k int) string { return filepath.Join(out, task, fmt.Sprintf("%d-%d", k, seed)) }
			ext, hdr := ".csv", 0
			if task == "RTE" || task == "SST-2" {
				ext, hdr = ".tsv", 1
			}
			tr512 := lines(readFile(t, filepath.Join(dir(512), "train"+ext)))[hdr:]
			dev512 := lines(readFile(t, filepath.Join(dir(512), "dev"+ext)))[hdr:]
			if len(tr512) != n[0] || len(dev512) != n[1] {
				t.Errorf("%s 512-%d: %d train / %d dev rows, want %d / %d", task, seed, len(tr512), len(dev512), n[0], n[1])
			}
			byLabel := map[string][]string{}
			var order []string
			for _, l := range tr512 {
				lab := rowLabel(task, l)
				if byLabel[lab] == nil {
					order = append(order, lab)
				}
				byLabel[lab] = append(byLabel[lab], l)
			}
			var wantTr, wantDev []string
			for _, lab := range order {
				wantTr = append(wantTr, byLabel[lab][:16]...)
				wantDev = append(wantDev, byLabel[lab][16:32]...)
			}
			tr16 := lines(readFile(t, filepath.Join(dir(16), "train"+ext)))[hdr:]
			dev16 := lines(readFile(t, filepath.Join(dir(16), "dev"+ext)))[hdr:]
			if strings.Join(tr16, "") != strings.Join(wantTr, "") || strings.Join(dev16, "") != strings.Join(wantDev, "") {
				t.Errorf("%s seed %d: 16-shot files are not the first 16 / next 16 rows per label of the 512-shot train", task, seed)
			}
			compared += 2
		}
	}
	t.Logf("k-shot-1k-test: %d files checked", compared)
}

func checkPermutationFixture(t *testing.T, perm []int) {
	t.Helper()
	var f struct {
		Cases []struct {
			Seed         uint32 `json:"seed"`
			PermutationN *int   `json:"permutation_n"`
			SHA          string `json:"sha256_of_json_list"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(readFile(t, testenv.SharedPath(t, "fixtures", "rng", "numpy_randomstate.json")), &f); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(perm)
	pyJSON := strings.ReplaceAll(string(js), ",", ", ")
	for _, c := range f.Cases {
		if c.PermutationN != nil && *c.PermutationN == len(perm) && c.Seed == 42 {
			if sha([]byte(pyJSON)) != c.SHA {
				t.Fatal("permutation differs from the numpy fixture")
			}
			return
		}
	}
	t.Fatalf("fixture has no permutation of %d with seed 42", len(perm))
}

func lines(b []byte) []string {
	s := strings.SplitAfter(string(b), "\n")
	if len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	return s
}

// rowLabel is the label of an output row, for the invariant checks.
func rowLabel(task, l string) string {
	if task == "sst-5" || task == "trec" {
		return l[:strings.IndexByte(l, ',')]
	}
	f := strings.Split(strings.TrimSpace(l), "\t")
	return f[len(f)-1]
}

// TestDefaultTasksSkipMissing: with no task list, absent tasks are skipped
// with a note; everything already in the output directory stays.
func TestDefaultTasksSkipMissing(t *testing.T) {
	data := linkedDataDir(t, map[string]string{"trec": "trec"})
	out := t.TempDir()
	keep := filepath.Join(out, "trec", "notes.txt")
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := Generate(Options{DataDir: data, OutputDir: out, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "skipping SST-2") || !strings.Contains(log.String(), "skipping RTE") {
		t.Errorf("log lacks skip notes:\n%s", log.String())
	}
	if got := string(readFile(t, keep)); got != "mine" {
		t.Errorf("foreign file changed: %q", got)
	}
	files := listFiles(t, out)
	if len(files) != 5*3+1 {
		t.Errorf("output has %d files: %v", len(files), files)
	}
	for _, f := range files {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("temporary file left: %s", f)
		}
	}
	if n := compareOfficial(t, out, []string{"trec"}); n != 15 {
		t.Errorf("trec: %d files match, want 15", n)
	}

	if err := Generate(Options{DataDir: t.TempDir(), OutputDir: out}); err == nil || !strings.Contains(err.Error(), "none of the default tasks") {
		t.Errorf("empty data dir: err = %v", err)
	}
}

// writeTask writes files into a fresh data directory's task folder.
func writeTask(t *testing.T, task string, files map[string]string) string {
	t.Helper()
	data := t.TempDir()
	dir := filepath.Join(data, task)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func TestBadInput(t *testing.T) {
	rte := "index\tsentence1\tsentence2\tlabel\n"
	cases := []struct {
		name, task string
		files      map[string]string
		opts       Options
		want       []string // substrings of the error
	}{
		{"missing task dir", "RTE", nil, Options{Tasks: []string{"SST-2"}}, []string{"SST-2", "no such file"}},
		{"missing dev", "RTE", map[string]string{"train.tsv": rte + "0\ta\tb\tentailment\n"}, Options{Tasks: []string{"RTE"}}, []string{"dev.tsv", "no such file"}},
		{"missing test.csv", "trec", map[string]string{"train.csv": "1,a\n"}, Options{Tasks: []string{"trec"}}, []string{"test.csv"}},
		{"empty train", "RTE", map[string]string{"train.tsv": "", "dev.tsv": rte}, Options{Tasks: []string{"RTE"}}, []string{"train.tsv", "empty file"}},
		{"header only", "RTE", map[string]string{"train.tsv": rte, "dev.tsv": rte}, Options{Tasks: []string{"RTE"}}, []string{"train.tsv", "no training rows"}},
		{"empty csv", "sst-5", map[string]string{"train.csv": "\n\n", "test.csv": "1,a\n"}, Options{Tasks: []string{"sst-5"}}, []string{"train.csv", "no rows"}},
		{"tsv columns", "RTE", map[string]string{"train.tsv": rte + "0\ta\tb\tentailment\n1\ta\tnot_entailment\n", "dev.tsv": rte}, Options{Tasks: []string{"RTE"}}, []string{"train.tsv:3", "3 tab-separated columns, want 4"}},
		{"tsv blank line", "SST-2", map[string]string{"train.tsv": "sentence\tlabel\nok \t1\n\n", "dev.tsv": "sentence\tlabel\n"}, Options{Tasks: []string{"SST-2"}}, []string{"train.tsv:3", "1 tab-separated columns"}},
		{"stsb score", "STS-B", map[string]string{"train.tsv": "h\n0\t1\t2\t3\t4\t5\t6\ta\tb\tfive\n", "dev.tsv": "h\n"}, Options{Tasks: []string{"STS-B"}}, []string{"train.tsv:2", `score "five"`}},
		{"csv columns", "trec", map[string]string{"train.csv": "1,a\n2,b,c\n", "test.csv": "1,a\n"}, Options{Tasks: []string{"trec"}}, []string{"train.csv:2: 3 comma-separated fields"}},
		{"csv label", "trec", map[string]string{"train.csv": "1,a\n\nx,b\n", "test.csv": "1,a\n"}, Options{Tasks: []string{"trec"}}, []string{`train.csv:3: label "x" is not an integer`}},
		{"csv quote", "trec", map[string]string{"train.csv": "1,a\n2,\"b\n", "test.csv": "1,a\n"}, Options{Tasks: []string{"trec"}}, []string{"train.csv:2: end of file inside a quoted field"}},
		{"csv numeric text", "trec", map[string]string{"train.csv": "1,1\n2,2.5\n", "test.csv": "1,a\n"}, Options{Tasks: []string{"trec"}}, []string{"train.csv", "only numbers"}},
		{"not utf-8", "trec", map[string]string{"train.csv": "1,\xff\n", "test.csv": "1,a\n"}, Options{Tasks: []string{"trec"}}, []string{"train.csv", "UTF-8"}},
		{"unknown task", "trec", nil, Options{Tasks: []string{"sst-2"}}, []string{`unknown task "sst-2"`, `"SST-2"`}},
		{"bad mode", "trec", nil, Options{Mode: "full"}, []string{`unknown mode "full"`}},
		{"bad k", "trec", nil, Options{K: []int{0}}, []string{"k must be positive"}},
		{"bad seed", "trec", nil, Options{Seeds: []int{-1}}, []string{"seed -1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := writeTask(t, c.task, c.files)
			out := t.TempDir()
			o := c.opts
			o.DataDir, o.OutputDir = data, out
			err := Generate(o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if files := listFiles(t, out); len(files) != 0 {
				t.Errorf("files written despite the error: %v", files)
			}
		})
	}
}

// TestCoLACompounds pins the reference's in-place shuffle of header-less
// CoLA: the split of a seed depends on the seeds before it.
func TestCoLACompounds(t *testing.T) {
	var train strings.Builder
	for i := range 40 {
		fmt.Fprintf(&train, "src\t%d\t\tsentence %d\n", i%2, i)
	}
	data := writeTask(t, "CoLA", map[string]string{"train.tsv": train.String(), "dev.tsv": "src\t1\t\tdev\n"})
	run := func(seeds ...int) string {
		out := t.TempDir()
		if err := Generate(Options{Tasks: []string{"CoLA"}, Seeds: seeds, K: []int{4}, DataDir: data, OutputDir: out}); err != nil {
			t.Fatal(err)
		}
		return string(readFile(t, filepath.Join(out, "CoLA", fmt.Sprintf("4-%d", seeds[len(seeds)-1]), "train.tsv")))
	}
	alone, after := run(13), run(100, 13)
	if alone == after {
		t.Error("CoLA split of seed 13 does not depend on the seed before it")
	}
	// Seed 13 after seed 100 = shuffle(100) then shuffle(13) of the file order.
	idx := make([]int, 40)
	for i := range idx {
		idx[i] = i
	}
	for _, s := range []uint32{100, 13} {
		nprand.New(s).ShuffleInts(idx)
	}
	var want strings.Builder
	for _, lab := range []int{idx[0] % 2, 1 - idx[0]%2} {
		n := 0
		for _, i := range idx {
			if i%2 == lab && n < 4 {
				fmt.Fprintf(&want, "src\t%d\t\tsentence %d\n", i%2, i)
				n++
			}
		}
	}
	if after != want.String() {
		t.Errorf("train.tsv =\n%s\nwant\n%s", after, want.String())
	}
}

// TestReferenceSynthetic runs every mode over the synthetic originals in
// testdata and compares each file with the sha256 the reference generator's
// output had (testdata/README.md says how it was made).
func TestReferenceSynthetic(t *testing.T) {
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join("testdata", "reference.sha256")))), "\n") {
		sum, path, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		want[path] = sum
	}
	out := t.TempDir()
	tasks := []string{"CoLA", "MNLI", "SNLI", "MRPC", "STS-B", "cr", "subj", "mpqa"}
	for _, c := range []struct {
		mode string
		k    int
	}{{ModeKShot, 4}, {ModeKShot10x, 2}, {ModeKShot1kTest, 4}, {ModeKShot1kTest, 8}} {
		err := Generate(Options{Tasks: tasks, K: []int{c.k}, DataDir: filepath.Join("testdata", "original"), OutputDir: filepath.Join(out, c.mode), Mode: c.mode})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := listFiles(t, out)
	n := 0
	for _, f := range got {
		w, ok := want[filepath.ToSlash(f)]
		if !ok {
			t.Errorf("%s: not written by the reference", f)
			continue
		}
		if g := sha(readFile(t, filepath.Join(out, f))); g != w {
			t.Errorf("%s: sha256 %s, want %s", f, g, w)
			continue
		}
		n++
	}
	if len(got) != len(want) {
		t.Errorf("wrote %d files, the reference %d", len(got), len(want))
	}
	t.Logf("%d of %d reference files match by sha256", n, len(want))
}
