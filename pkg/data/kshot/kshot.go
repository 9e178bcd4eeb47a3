// Package kshot generates k-shot splits exactly as LM-BFF's (and MeZO's)
// tools/generate_k_shot_data.py does, byte for byte, with numpy's legacy
// RandomState from pkg/nprand.
//
// For each K, seed and task (in that nesting, like the reference): seed the
// generator, shuffle the training rows, group them by label in order of first
// appearance, and write the first K rows of each label as train and the next
// K (10K in k-shot-10x mode) as dev. GLUE-style tasks copy their dev file(s)
// as the test set(s); CSV tasks round-trip their test.csv through pandas'
// formatting. In k-shot-1k-test mode, test sets over 1000 rows are cut to
// 1000 rows drawn with seed 42.
//
// Reference quirks kept on purpose: CoLA has no header, so the reference
// shuffles its train (and, in 1k-test mode, dev) list in place, and the
// shuffles of successive seeds compound; a GLUE last line without "\n" is
// written without one. Generate reproduces both.
//
// Where the reference would silently write odd splits or crash midway,
// Generate stops before writing anything, naming the file and line: a
// training row with the wrong number of columns (GLUE tasks with a fixed
// width; CSV rows must be "label,text"), an empty label, an STS-B score that
// is not a number, a CSV label that is not an integer, a CSV text column
// holding only numbers (pandas would reformat it), an empty or non-UTF-8
// file, a CSV line that pandas would misread (see tabular.ParseCSV). Only
// training rows are checked in GLUE files; dev files are copied. With the
// default task list, tasks absent from DataDir are skipped.
package kshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomezo/gomezo/pkg/data/tabular"
	"github.com/gomezo/gomezo/pkg/nprand"
)

// Modes of Options.Mode.
const (
	ModeKShot       = "k-shot"
	ModeKShot10x    = "k-shot-10x"
	ModeKShot1kTest = "k-shot-1k-test"
)

// DefaultSeeds are the reference generator's default seeds, in its order.
func DefaultSeeds() []int { return []int{100, 13, 21, 42, 87} }

// DefaultK is the reference generator's default K.
const DefaultK = 16

// Options configures Generate. Zero values take the reference's defaults.
type Options struct {
	// Tasks to generate. Empty means DefaultTasks(); then tasks whose
	// directory is absent from DataDir are skipped with a note on Log (the
	// reference would crash), and it is an error only if none is present.
	// Tasks named explicitly must all be present.
	Tasks []string
	// Seeds; empty means DefaultSeeds(). Each must be in [0, 2^32-1].
	Seeds []int
	// K values (examples per label); empty means {16}.
	K []int
	// DataDir holds <TASK>/ with the original files (train.tsv + dev.tsv,
	// MNLI dev_matched.tsv + dev_mismatched.tsv, or train.csv + test.csv).
	// Empty means "data/original".
	DataDir string
	// OutputDir receives <TASK>/<K>-<SEED>/ (no mode subfolder). Required.
	OutputDir string
	// Mode is ModeKShot (default), ModeKShot10x or ModeKShot1kTest.
	Mode string
	// Log receives progress and skip notes; nil discards them.
	Log io.Writer
}

// taskData is one task's original files, loaded and checked.
type taskData struct {
	spec *taskSpec
	// GLUE: header (0 or 1 line), training rows and labels, eval files.
	header [][]byte
	train  [][]byte
	labels []string
	evals  []evalFile
	// CSV: the test rows as to_csv writes them.
	test [][]byte
}

type evalFile struct {
	name   string // output name, e.g. test_matched.tsv
	header [][]byte
	lines  [][]byte
}

// Generate writes the k-shot splits described by opts. It loads and checks
// every requested task before writing anything, writes each file atomically
// (a temporary file renamed into place) and touches nothing else in
// OutputDir.
func Generate(opts Options) error {
	if opts.Mode == "" {
		opts.Mode = ModeKShot
	}
	switch opts.Mode {
	case ModeKShot, ModeKShot10x, ModeKShot1kTest:
	default:
		return fmt.Errorf("kshot: unknown mode %q (want %s, %s or %s)", opts.Mode, ModeKShot, ModeKShot10x, ModeKShot1kTest)
	}
	if opts.OutputDir == "" {
		return errors.New("kshot: no output directory")
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join("data", "original")
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	seeds := opts.Seeds
	if len(seeds) == 0 {
		seeds = DefaultSeeds()
	}
	for _, s := range seeds {
		if s < 0 || int64(s) > 1<<32-1 {
			return fmt.Errorf("kshot: seed %d out of range [0, 4294967295]", s)
		}
	}
	ks := opts.K
	if len(ks) == 0 {
		ks = []int{DefaultK}
	}
	for _, k := range ks {
		if k <= 0 {
			return fmt.Errorf("kshot: k must be positive, got %d", k)
		}
	}
	names, skipMissing := opts.Tasks, false
	if len(names) == 0 {
		names, skipMissing = DefaultTasks(), true
	}
	var tasks []*taskData
	seen := map[string]bool{}
	for _, name := range names {
		spec, err := lookupTask(name)
		if err != nil {
			return fmt.Errorf("kshot: %w", err)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		dir := filepath.Join(opts.DataDir, name)
		if skipMissing {
			if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(log, "kshot: skipping %s: %s not found\n", name, dir)
				continue
			}
		}
		td, err := loadTask(spec, dir)
		if err != nil {
			return fmt.Errorf("kshot: %s: %w", name, err)
		}
		tasks = append(tasks, td)
	}
	if len(tasks) == 0 {
		return fmt.Errorf("kshot: none of the default tasks is present in %s", opts.DataDir)
	}

	for _, k := range ks {
		// Per K the reference is a fresh process: in-place shuffles (CoLA)
		// start again from the files' order.
		work := make([]*taskData, len(tasks))
		for i, td := range tasks {
			work[i] = td.fresh()
		}
		for _, seed := range seeds {
			for _, td := range work {
				if err := generateOne(td, k, uint32(seed), opts.Mode, opts.OutputDir, log); err != nil {
					return fmt.Errorf("kshot: %s %d-%d: %w", td.spec.name, k, seed, err)
				}
			}
		}
	}
	return nil
}

// fresh returns a copy whose slices may be shuffled in place.
func (td *taskData) fresh() *taskData {
	c := *td
	c.train = append([][]byte(nil), td.train...)
	c.labels = append([]string(nil), td.labels...)
	c.evals = make([]evalFile, len(td.evals))
	for i, e := range td.evals {
		e.lines = append([][]byte(nil), e.lines...)
		c.evals[i] = e
	}
	return &c
}

// loadTask reads and checks the original files of one task.
func loadTask(spec *taskSpec, dir string) (*taskData, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("task directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("task directory %s is not a directory", dir)
	}
	td := &taskData{spec: spec}
	if spec.format == csvFormat {
		trainPath := filepath.Join(dir, "train.csv")
		rows, labels, err := loadCSV(trainPath)
		if err != nil {
			return nil, err
		}
		td.train, td.labels = rows, labels
		if td.test, _, err = loadCSV(filepath.Join(dir, "test.csv")); err != nil {
			return nil, err
		}
		return td, nil
	}
	trainPath := filepath.Join(dir, "train.tsv")
	header, lines, err := loadTSV(trainPath, spec.header)
	if err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no training rows", trainPath)
	}
	td.header, td.train = header, lines
	td.labels = make([]string, len(lines))
	first := 1 + len(header)
	for i, l := range lines {
		if td.labels[i], err = glueLabel(spec, l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", trainPath, first+i, err)
		}
	}
	for _, split := range spec.evalSplits {
		h, ls, err := loadTSV(filepath.Join(dir, split+".tsv"), spec.header)
		if err != nil {
			return nil, err
		}
		td.evals = append(td.evals, evalFile{name: strings.Replace(split, "dev", "test", 1) + ".tsv", header: h, lines: ls})
	}
	return td, nil
}

// loadTSV reads a GLUE file's lines as the reference's readlines() does,
// splitting off the header line if the task has one.
func loadTSV(path string, header bool) (head, lines [][]byte, err error) {
	all, err := tabular.ReadLines(path)
	if err != nil {
		return nil, nil, err
	}
	if header {
		return all[:1], all[1:], nil
	}
	return nil, all, nil
}

// loadCSV reads a CSV file as the reference's pd.read_csv(header=None) does
// and renders its rows as to_csv writes them.
func loadCSV(path string) (rows [][]byte, labels []string, err error) {
	recs, err := tabular.ReadCSV(path)
	if err != nil {
		return nil, nil, err
	}
	return csvRows(path, recs)
}

// generateOne writes one <TASK>/<K>-<SEED>/ directory.
func generateOne(td *taskData, k int, seed uint32, mode, outDir string, log io.Writer) error {
	spec := td.spec
	rs := nprand.New(seed)
	// Shuffle the training rows: a fresh list each time, except for GLUE
	// tasks without a header (CoLA), where the reference shuffles the loaded
	// list itself.
	train, labels := td.train, td.labels
	if spec.format == csvFormat || spec.header {
		train = append([][]byte(nil), train...)
		labels = append([]string(nil), labels...)
	}
	rs.Shuffle(len(train), func(i, j int) {
		train[i], train[j] = train[j], train[i]
		labels[i], labels[j] = labels[j], labels[i]
	})

	dir := filepath.Join(outDir, spec.name, fmt.Sprintf("%d-%d", k, seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cut := mode == ModeKShot1kTest
	var nTest []string
	if spec.format == csvFormat {
		test := td.test
		if cut && len(test) > 1000 {
			// DataFrame.sample(n=1000, random_state=42)
			perm := nprand.New(42).Permutation(len(test))[:1000]
			sub := make([][]byte, len(perm))
			for i, p := range perm {
				sub[i] = test[p]
			}
			test = sub
		}
		if err := writeFile(filepath.Join(dir, "test.csv"), nil, test); err != nil {
			return err
		}
		nTest = append(nTest, fmt.Sprint(len(test)))
	} else {
		for i := range td.evals {
			e := &td.evals[i]
			lines := e.lines
			if cut && len(lines) > 1000 {
				if spec.header {
					lines = append([][]byte(nil), lines...)
				}
				rs.Seed(42)
				rs.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
				lines = lines[:1000]
			}
			if err := writeFile(filepath.Join(dir, e.name), e.header, lines); err != nil {
				return err
			}
			nTest = append(nTest, fmt.Sprint(len(lines)))
		}
	}

	// Group by label in order of first appearance.
	var order []string
	groups := map[string][][]byte{}
	for i, l := range train {
		lab := labels[i]
		if _, ok := groups[lab]; !ok {
			order = append(order, lab)
		}
		groups[lab] = append(groups[lab], l)
	}
	devRate := 2
	if mode == ModeKShot10x {
		devRate = 11
	}
	var trainOut, devOut [][]byte
	for _, lab := range order {
		g := groups[lab]
		trainOut = append(trainOut, g[:min(k, len(g))]...)
		if len(g) > k {
			devOut = append(devOut, g[k:min(k*devRate, len(g))]...)
		}
	}
	trainName, devName := "train.tsv", spec.devOut
	if spec.format == csvFormat {
		trainName, devName = "train.csv", "dev.csv"
	}
	if err := writeFile(filepath.Join(dir, trainName), td.header, trainOut); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, devName), td.header, devOut); err != nil {
		return err
	}
	fmt.Fprintf(log, "kshot: wrote %s (%d labels; train %d, dev %d, test %s rows)\n",
		dir, len(order), len(trainOut), len(devOut), strings.Join(nTest, "+"))
	return nil
}

// writeFile writes the concatenation of head and lines to path atomically:
// into a temporary file in the same directory, then renamed over path.
func writeFile(path string, head, lines [][]byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	size := 0
	for _, l := range head {
		size += len(l)
	}
	for _, l := range lines {
		size += len(l)
	}
	buf := make([]byte, 0, size)
	for _, l := range head {
		buf = append(buf, l...)
	}
	for _, l := range lines {
		buf = append(buf, l...)
	}
	if _, err = f.Write(buf); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
