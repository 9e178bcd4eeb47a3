package kshot

import (
	"fmt"
	"sort"
	"strings"
)

// format is how a task's original files are stored.
type format int

const (
	// glue: tab-separated lines read and written verbatim (Python readlines),
	// the GLUE dev set(s) becoming the test set(s).
	glue format = iota
	// csvFormat: headerless "label,text" CSV read with pandas.read_csv and
	// written with DataFrame.to_csv; the original test set is kept.
	csvFormat
)

// taskSpec is one task of the reference generator.
type taskSpec struct {
	name   string
	format format
	// header: the first line of every GLUE file is a header (all GLUE tasks
	// but CoLA).
	header bool
	// labelCol is the label's column after Python's line.strip().split('\t');
	// -1 means the last column.
	labelCol int
	// stsb: the label is 0 if float(score) < 2.5 else 1 (STS-B).
	stsb bool
	// cols > 0 requires exactly that many tab-separated columns per training
	// row; otherwise minCols is the least accepted (1 = unchecked).
	cols, minCols int
	// evalSplits are the original GLUE evaluation files (without ".tsv"); each
	// is written as the test file with "dev" replaced by "test".
	evalSplits []string
	// devOut is the name of the sampled dev file for GLUE tasks.
	devOut string
}

// The columns follow LM-BFF's get_label. Exact column counts are required
// only of tasks whose GLUE rows have a fixed width. QQP is left unchecked
// (Hugging Face's GLUE processor skips short QQP rows, so copies with such rows
// may exist, and the reference samples them anyway); MNLI, SNLI and STS-B
// rows vary, so only a minimum is checked.
var taskTable = []taskSpec{
	{name: "SST-2", format: glue, header: true, labelCol: -1, cols: 2, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "sst-5", format: csvFormat},
	{name: "mr", format: csvFormat},
	{name: "cr", format: csvFormat},
	{name: "mpqa", format: csvFormat},
	{name: "subj", format: csvFormat},
	{name: "trec", format: csvFormat},
	{name: "CoLA", format: glue, header: false, labelCol: 1, cols: 4, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "MRPC", format: glue, header: true, labelCol: 0, cols: 5, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "QQP", format: glue, header: true, labelCol: -1, minCols: 1, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "STS-B", format: glue, header: true, labelCol: -1, stsb: true, minCols: 10, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "MNLI", format: glue, header: true, labelCol: -1, minCols: 11, evalSplits: []string{"dev_matched", "dev_mismatched"}, devOut: "dev_matched.tsv"},
	{name: "SNLI", format: glue, header: true, labelCol: -1, minCols: 10, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "QNLI", format: glue, header: true, labelCol: -1, cols: 4, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
	{name: "RTE", format: glue, header: true, labelCol: -1, cols: 4, evalSplits: []string{"dev"}, devOut: "dev.tsv"},
}

// DefaultTasks returns the reference generator's default task list, in its
// order.
func DefaultTasks() []string {
	out := make([]string, len(taskTable))
	for i, t := range taskTable {
		out[i] = t.name
	}
	return out
}

func lookupTask(name string) (*taskSpec, error) {
	for i := range taskTable {
		if taskTable[i].name == name {
			return &taskTable[i], nil
		}
	}
	for i := range taskTable {
		if strings.EqualFold(taskTable[i].name, name) {
			return nil, fmt.Errorf("unknown task %q (task names are case-sensitive; did you mean %q?)", name, taskTable[i].name)
		}
	}
	names := DefaultTasks()
	sort.Strings(names)
	return nil, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(names, ", "))
}
