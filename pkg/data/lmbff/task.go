package lmbff

import (
	"fmt"
	"sort"
	"strings"
)

// Split names a part of a k-shot data directory.
type Split string

// The three splits of a k-shot directory. In MeZO's k-shot-1k-test the
// "test" split of a GLUE-style task is the original GLUE dev set.
const (
	SplitTrain Split = "train"
	SplitDev   Split = "dev"
	SplitTest  Split = "test"
)

// ParseSplit accepts "train", "dev" or "test".
func ParseSplit(s string) (Split, error) {
	switch Split(s) {
	case SplitTrain, SplitDev, SplitTest:
		return Split(s), nil
	}
	return "", fmt.Errorf("lmbff: unknown split %q (want train, dev or test)", s)
}

// Format is the file format of a task's splits.
type Format int

const (
	// TSV files are read with tabular.ReadTSV (python csv.reader, no
	// quoting).
	TSV Format = iota
	// CSV files are read with tabular.ReadCSV (pandas.read_csv,
	// header=None).
	CSV
)

// Defaults are the per-task settings of the reference's run_fewshot.sh: the
// template and mapping it passes, and the TASK_EXTRA flags. MaxLength already
// reflects "--max_seq_len 256" overriding "--max_seq_length 128" (argparse
// prefix matching, the later flag wins).
type Defaults struct {
	Template       string
	Mapping        string
	MaxLength      int
	FirstSentLimit int // 0: no limit
	OtherSentLimit int // 0: no limit
	NumSample      int
	DoubleDemo     bool
}

// Task describes one data set: where its files are, which columns hold what,
// its labels (in the reference processor's order, which is the order of the
// label words and of the logits), and the reference's default settings.
type Task struct {
	// Name is the directory name under k-shot/ (SST-2, sst-5, MNLI, ...).
	Name string
	// Key is the reference's lower-cased task_name (sst-2, mnli-mm, ...).
	Key    string
	Format Format
	// Files maps each split to its file name.
	Files map[Split]string
	// SetTypes maps each split to the reference's set_type, used in guids
	// (MNLI's dev split is "dev_matched").
	SetTypes map[Split]string
	// Header: the first line of each file is a header and is skipped.
	Header bool
	// TextA and TextB are column indexes; TextB < 0 for single-sentence
	// tasks.
	TextA, TextB int
	// LabelCol is the label's column index; -1 means the last column.
	LabelCol int
	// GUIDCol is the column whose value makes the guid; -1 uses the row
	// index as the reference does for that task.
	GUIDCol int
	// MinFields is the fewest fields a data row may have.
	MinFields int
	// SameFields requires every row to have as many fields as the header.
	SameFields bool
	// SkipShort skips rows with fewer than MinFields fields instead of
	// failing, as the reference's QQP processor does.
	SkipShort bool
	// Labels are the label names in the processor's get_labels order. For
	// CSV tasks they are the integers "0".."n-1". Nil for regression.
	Labels []string
	// Regression tasks (STS-B) have a float label; demonstrations are
	// grouped as "0" (label <= Median) and "1" (above), and the prompt
	// mapping gives words for "0" and "1".
	Regression bool
	Median     float64
	Defaults   Defaults
}

// NumLabels is the number of classes the model scores: len(Labels), or 2 for
// a regression task (its two label words).
func (t *Task) NumLabels() int {
	if t.Regression {
		return 2
	}
	return len(t.Labels)
}

// refNumLabels is the reference's num_labels_mapping value: the number of
// classes, or 1 for regression. run.py's automatic demonstration template
// has one block per such label.
func (t *Task) refNumLabels() int {
	if t.Regression {
		return 1
	}
	return len(t.Labels)
}

// LabelIndex returns the index of label in t.Labels.
func (t *Task) LabelIndex(label string) (int, bool) {
	for i, l := range t.Labels {
		if l == label {
			return i, true
		}
	}
	return -1, false
}

// mappingKeys are the labels a prompt mapping must give words for, in label
// word order.
func (t *Task) mappingKeys() []string {
	if t.Regression {
		return []string{"0", "1"}
	}
	return t.Labels
}

const (
	tmplItWas = "*cls**sent_0*_It_was*mask*.*sep+*"
	tmplThis  = "*cls**sent_0*_This_is*mask*.*sep+*"
	tmplNLI   = "*cls**sent-_0*?*mask*,*+sentl_1**sep+*"
	tmplPair  = "*cls**sent_0**mask*,*+sentl_1**sep+*"
	mapNLI    = "{'contradiction':'No','entailment':'Yes','neutral':'Maybe'}"
	mapBinary = "{0:'terrible',1:'great'}"
)

var (
	glueFiles = map[Split]string{SplitTrain: "train.tsv", SplitDev: "dev.tsv", SplitTest: "test.tsv"}
	glueSets  = map[Split]string{SplitTrain: "train", SplitDev: "dev", SplitTest: "test"}
	csvFiles  = map[Split]string{SplitTrain: "train.csv", SplitDev: "dev.csv", SplitTest: "test.csv"}
	nliLabels = []string{"contradiction", "entailment", "neutral"}
	rteLabels = []string{"entailment", "not_entailment"}
)

func intLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i)
	}
	return out
}

func textTask(name string, n int, d Defaults) *Task {
	return &Task{Name: name, Key: name, Format: CSV, Files: csvFiles, SetTypes: glueSets,
		TextA: 1, TextB: -1, LabelCol: 0, GUIDCol: -1, MinFields: 2, Labels: intLabels(n), Defaults: d}
}

func withDefaults(d Defaults) Defaults {
	if d.MaxLength == 0 {
		d.MaxLength = 128
	}
	if d.NumSample == 0 {
		d.NumSample = 16
	}
	return d
}

// tasks is the table of every task the reference's processors know. Adding
// a task is adding an entry.
var tasks = []*Task{
	{Name: "SST-2", Key: "sst-2", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 0, TextB: -1, LabelCol: 1, GUIDCol: -1, MinFields: 2, SameFields: true,
		Labels: []string{"0", "1"}, Defaults: Defaults{Template: tmplItWas, Mapping: "{'0':'terrible','1':'great'}"}},
	textTask("sst-5", 5, Defaults{Template: tmplItWas,
		Mapping:        "{0:'terrible',1:'bad',2:'okay',3:'good',4:'great'}",
		FirstSentLimit: 110, OtherSentLimit: 20, DoubleDemo: true}),
	textTask("mr", 2, Defaults{Template: tmplItWas, Mapping: mapBinary, FirstSentLimit: 110, OtherSentLimit: 50}),
	textTask("cr", 2, Defaults{Template: tmplItWas, Mapping: mapBinary, FirstSentLimit: 110, OtherSentLimit: 50}),
	textTask("mpqa", 2, Defaults{Template: tmplItWas, Mapping: mapBinary, FirstSentLimit: 110}),
	textTask("subj", 2, Defaults{Template: tmplThis, Mapping: "{0:'subjective',1:'objective'}",
		FirstSentLimit: 110, OtherSentLimit: 50}),
	textTask("trec", 6, Defaults{Template: "*cls**mask*:*+sent_0**sep+*",
		Mapping:        "{0:'Description',1:'Entity',2:'Expression',3:'Human',4:'Location',5:'Number'}",
		FirstSentLimit: 110}),
	{Name: "MNLI", Key: "mnli", Format: TSV, Header: true,
		Files:    map[Split]string{SplitTrain: "train.tsv", SplitDev: "dev_matched.tsv", SplitTest: "test_matched.tsv"},
		SetTypes: map[Split]string{SplitTrain: "train", SplitDev: "dev_matched", SplitTest: "test_matched"},
		TextA:    8, TextB: 9, LabelCol: -1, GUIDCol: 0, MinFields: 11, Labels: nliLabels,
		Defaults: Defaults{Template: tmplNLI, Mapping: mapNLI, MaxLength: 256, FirstSentLimit: 240}},
	{Name: "MNLI-mm", Key: "mnli-mm", Format: TSV, Header: true,
		Files:    map[Split]string{SplitTrain: "train.tsv", SplitDev: "dev_mismatched.tsv", SplitTest: "test_mismatched.tsv"},
		SetTypes: map[Split]string{SplitTrain: "train", SplitDev: "dev_mismatched", SplitTest: "test_mismatched"},
		TextA:    8, TextB: 9, LabelCol: -1, GUIDCol: 0, MinFields: 11, Labels: nliLabels,
		Defaults: Defaults{Template: tmplNLI, Mapping: mapNLI, MaxLength: 256, FirstSentLimit: 240}},
	{Name: "SNLI", Key: "snli", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 7, TextB: 8, LabelCol: -1, GUIDCol: 0, MinFields: 10, Labels: nliLabels,
		Defaults: Defaults{Template: tmplNLI, Mapping: mapNLI, MaxLength: 256, NumSample: 4}},
	{Name: "RTE", Key: "rte", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 1, TextB: 2, LabelCol: -1, GUIDCol: 0, MinFields: 4, SameFields: true, Labels: rteLabels,
		Defaults: Defaults{Template: tmplNLI, Mapping: "{'not_entailment':'No','entailment':'Yes'}",
			MaxLength: 256, FirstSentLimit: 240}},
	{Name: "QNLI", Key: "qnli", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 1, TextB: 2, LabelCol: -1, GUIDCol: 0, MinFields: 4, SameFields: true, Labels: rteLabels,
		Defaults: Defaults{Template: tmplNLI, Mapping: "{'not_entailment':'No','entailment':'Yes'}"}},
	{Name: "MRPC", Key: "mrpc", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 3, TextB: 4, LabelCol: 0, GUIDCol: -1, MinFields: 5, SameFields: true,
		Labels: []string{"0", "1"}, Defaults: Defaults{Template: tmplPair, Mapping: "{'0':'No','1':'Yes'}"}},
	{Name: "QQP", Key: "qqp", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 3, TextB: 4, LabelCol: 5, GUIDCol: 0, MinFields: 6, SkipShort: true,
		Labels: []string{"0", "1"}, Defaults: Defaults{Template: tmplPair, Mapping: "{'0':'No','1':'Yes'}"}},
	// CoLA's LM-BFF files have no header: the reference reads every line.
	{Name: "CoLA", Key: "cola", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: false,
		TextA: 3, TextB: -1, LabelCol: 1, GUIDCol: -1, MinFields: 4,
		Labels: []string{"0", "1"}, Defaults: Defaults{Template: tmplThis, Mapping: "{'0':'incorrect','1':'correct'}"}},
	{Name: "STS-B", Key: "sts-b", Format: TSV, Files: glueFiles, SetTypes: glueSets, Header: true,
		TextA: 7, TextB: 8, LabelCol: -1, GUIDCol: 0, MinFields: 10, Regression: true, Median: 2.5,
		Defaults: Defaults{Template: tmplPair, Mapping: "{'0':'No','1':'Yes'}"}},
}

func init() {
	for _, t := range tasks {
		t.Defaults = withDefaults(t.Defaults)
	}
}

// LookupTask finds a task by its directory name or the reference's task_name,
// ignoring case ("SST-2", "sst-2", "mnli-mm").
func LookupTask(name string) (*Task, error) {
	for _, t := range tasks {
		if strings.EqualFold(t.Name, name) || strings.EqualFold(t.Key, name) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("lmbff: unknown task %q (known: %s)", name, strings.Join(TaskNames(), ", "))
}

// TaskNames lists the known tasks' names, sorted.
func TaskNames() []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}
