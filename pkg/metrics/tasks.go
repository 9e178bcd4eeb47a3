package metrics

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Metric names, as the reference's metric dicts spell them (HF's Trainer
// then prefixes "eval_").
const (
	NameAcc       = "acc"
	NameF1        = "f1"
	NameAccAndF1  = "acc_and_f1"
	NameMCC       = "mcc"
	NamePearson   = "pearson"
	NameSpearman  = "spearmanr"
	NameCorr      = "corr"
	NameMNLIAcc   = "mnli/acc"
	NameMNLIMMAcc = "mnli-mm/acc"
)

// MetricSet is the family of metrics one task reports: which branch of
// transformers' glue_compute_metrics, or LM-BFF's
// text_classification_metrics, the reference calls for it.
type MetricSet int

const (
	// AccuracySet is {acc}: simple_accuracy (sst-2, qnli, rte, wnli) or
	// text_classification_metrics (snli, mr, sst-5, subj, trec, cr, mpqa).
	AccuracySet MetricSet = iota + 1
	// AccF1Set is acc_and_f1's {acc, f1, acc_and_f1} (mrpc, qqp).
	AccF1Set
	// MCCSet is {mcc} (cola).
	MCCSet
	// CorrSet is pearson_and_spearman's {pearson, spearmanr, corr} (sts-b).
	CorrSet
	// MNLISet is {mnli/acc} (mnli).
	MNLISet
	// MNLIMMSet is {mnli-mm/acc} (mnli-mm). MeZO's run.py rejects
	// --task_name mnli-mm (num_labels_mapping lacks it) and has the
	// mismatched test eval commented out, so it reports this only where a
	// caller evaluates the mismatched set itself.
	MNLIMMSet
)

var setNames = map[MetricSet][]string{
	AccuracySet: {NameAcc},
	AccF1Set:    {NameAcc, NameF1, NameAccAndF1},
	MCCSet:      {NameMCC},
	CorrSet:     {NamePearson, NameSpearman, NameCorr},
	MNLISet:     {NameMNLIAcc},
	MNLIMMSet:   {NameMNLIMMAcc},
}

// Names returns the metric names of the set, in the order of the
// reference's dict; nil for an invalid set.
func (s MetricSet) Names() []string { return slices.Clone(setNames[s]) }

// String names the set by its metrics, e.g. "acc,f1,acc_and_f1".
func (s MetricSet) String() string {
	if n, ok := setNames[s]; ok {
		return strings.Join(n, ",")
	}
	return fmt.Sprintf("MetricSet(%d)", int(s))
}

// objectiveOrder is MeZO's default_dev_objective (trainer.py): the first of
// these keys (with their "eval_" prefix) present in the metrics is the
// objective. acc_and_f1, spearmanr and corr are never chosen.
var objectiveOrder = []string{NameMNLIAcc, NameMNLIMMAcc, NameF1, NameMCC, NamePearson, NameAcc}

// ObjectiveOrder returns default_dev_objective's order of preference:
// mnli/acc, mnli-mm/acc, f1, mcc, pearson, acc.
func ObjectiveOrder() []string { return slices.Clone(objectiveOrder) }

// Task is what the reference's lookup tables say about one task_name that
// matters for evaluation.
type Task struct {
	// Name is the reference's lower-case task_name, e.g. "sst-2".
	Name string
	// Metrics is the metric family compute_metrics_mapping gives it.
	Metrics MetricSet
	// Regression is output_modes_mapping's "regression" (sts-b only):
	// one label value per example, a float.
	Regression bool
	// Objective is the metric default_dev_objective selects the best
	// checkpoint by: mnli/acc (mnli), mnli-mm/acc (mnli-mm), f1 (mrpc, qqp),
	// mcc (cola), pearson (sts-b), acc otherwise; never acc_and_f1 or corr.
	Objective string
}

var tasks = func() map[string]Task {
	t := map[string]Task{}
	add := func(set MetricSet, regression bool, names ...string) {
		obj := ""
		for _, o := range objectiveOrder {
			if slices.Contains(setNames[set], o) {
				obj = o
				break
			}
		}
		for _, n := range names {
			t[n] = Task{Name: n, Metrics: set, Regression: regression, Objective: obj}
		}
	}
	// glue_compute_metrics (transformers 4.28.1).
	add(MCCSet, false, "cola")
	add(AccuracySet, false, "sst-2", "qnli", "rte", "wnli")
	add(AccF1Set, false, "mrpc", "qqp")
	add(CorrSet, true, "sts-b")
	add(MNLISet, false, "mnli")
	add(MNLIMMSet, false, "mnli-mm")
	// text_classification_metrics (LM-BFF processors.py).
	add(AccuracySet, false, "snli", "mr", "sst-5", "subj", "trec", "cr", "mpqa")
	return t
}()

// TaskNames returns the task names LookupTask knows, sorted.
func TaskNames() []string { return slices.Sorted(maps.Keys(tasks)) }

// LookupTask returns the task with the reference's task_name name. Names are
// case-sensitive, as in the reference's mappings; an unknown name is an
// error that names it.
func LookupTask(name string) (Task, error) {
	if t, ok := tasks[name]; ok {
		return t, nil
	}
	hint := ""
	if _, ok := tasks[strings.ToLower(name)]; ok {
		hint = fmt.Sprintf(" (task names are lower case: %q)", strings.ToLower(name))
	}
	return Task{}, fmt.Errorf("metrics: unknown task %q%s; known tasks: %s",
		name, hint, strings.Join(TaskNames(), ", "))
}

// Metric is one named value of an evaluation.
type Metric struct {
	Name  string
	Value float64
}

// Result is one evaluation's metrics in the order of the reference's dict.
type Result []Metric

// Get returns the value named name.
func (r Result) Get(name string) (float64, bool) {
	for _, m := range r {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// Compute is compute_metrics_mapping[task](task, preds, labels): the task's
// metric set over n predictions and n labels (n ≥ 1; sts-b needs n ≥ 2).
// Classification predictions are class indices (see Argmax); sts-b's are
// the regression values, or in MeZO's default prompt mode the argmax of the
// two label-word log-probabilities (see RegressionPredictions).
func Compute[P, L Number](t Task, preds []P, labels []L) (Result, error) {
	if err := checkLengths(len(preds), len(labels)); err != nil {
		return nil, err
	}
	switch t.Metrics {
	case AccuracySet, MNLISet, MNLIMMSet:
		acc, err := Accuracy(preds, labels)
		if err != nil {
			return nil, err
		}
		return Result{{setNames[t.Metrics][0], acc}}, nil
	case AccF1Set:
		acc, err := Accuracy(preds, labels)
		if err != nil {
			return nil, err
		}
		f1, err := F1(preds, labels)
		if err != nil {
			return nil, err
		}
		return Result{{NameAcc, acc}, {NameF1, f1}, {NameAccAndF1, (acc + f1) / 2}}, nil
	case MCCSet:
		mcc, err := MCC(preds, labels)
		if err != nil {
			return nil, err
		}
		return Result{{NameMCC, mcc}}, nil
	case CorrSet:
		p, err := Pearson(preds, labels)
		if err != nil {
			return nil, err
		}
		s, err := Spearman(preds, labels)
		if err != nil {
			return nil, err
		}
		return Result{{NamePearson, p}, {NameSpearman, s}, {NameCorr, (p + s) / 2}}, nil
	}
	return nil, fmt.Errorf("metrics: task %q has no metric set (use LookupTask)", t.Name)
}

// DevObjective is default_dev_objective: the value of the first metric of
// ObjectiveOrder present in r, and its name. A result with none of them is
// an error, as in the reference.
func DevObjective(r Result) (name string, value float64, err error) {
	for _, o := range objectiveOrder {
		if v, ok := r.Get(o); ok {
			return o, v, nil
		}
	}
	return "", 0, fmt.Errorf("metrics: no dev objective among %v", r)
}

// Better is the reference's best-checkpoint test, objective > best: strict,
// so a tie keeps the earlier checkpoint, and false whenever either side is
// NaN, so a NaN objective (a constant-prediction STS-B eval) never becomes
// the best. The first eval compares against math.Inf(-1).
func Better(objective, best float64) bool { return objective > best }
