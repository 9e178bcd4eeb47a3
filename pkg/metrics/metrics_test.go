package metrics

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// Expected values in this file are worked out by hand; oracle_test.go checks
// bits against numpy/scipy/sklearn and fixtures_test.go against the
// recorded reference runs.

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// mustOK returns a function that unwraps a metric's (value, error) and
// fails the test on an error.
func mustOK(t *testing.T) func(float64, error) float64 {
	return func(v float64, err error) float64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestAccuracy(t *testing.T) {
	must := mustOK(t)
	if got := must(Accuracy([]int{0, 1, 1, 0}, []int{0, 1, 0, 0})); got != 0.75 {
		t.Errorf("acc = %v, want 0.75", got)
	}
	// numpy compares int64 predictions with float32 labels by value.
	if got := must(Accuracy([]int64{0, 1, 2}, []float32{0, 1, 0.5})); got != 2.0/3 {
		t.Errorf("mixed-type acc = %v, want 2/3", got)
	}
	if _, err := Accuracy([]int{1}, []int{1, 0}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := Accuracy([]int{}, []int{}); err == nil {
		t.Error("empty input accepted")
	}
}

func TestF1(t *testing.T) {
	must := mustOK(t)
	for _, c := range []struct {
		name          string
		preds, labels []int
		want          float64
	}{
		// tp 2, fp 1, fn 1: p = r = 2/3.
		{"mixed", []int{1, 1, 0, 1, 0}, []int{1, 0, 0, 1, 1}, 2.0 / 3},
		// tp 1, fp 0, fn 3: p 1, r 1/4, f1 = 0.5/1.25 = 0.4.
		{"low recall", []int{1, 0, 0, 0}, []int{1, 1, 1, 1}, 0.4},
		{"perfect", []int{1, 0, 1}, []int{1, 0, 1}, 1},
		{"all one class, right", []int{1, 1, 1}, []int{1, 1, 1}, 1},
		// No positive anywhere: precision and recall are 0/0, which sklearn's
		// zero_division="warn" scores 0; so is f1.
		{"no positives at all", []int{0, 0, 0}, []int{0, 0, 0}, 0},
		{"never predicts 1", []int{0, 0, 0}, []int{1, 0, 1}, 0},
		{"no true 1", []int{1, 0, 1}, []int{0, 0, 0}, 0},
		{"all wrong", []int{0, 1}, []int{1, 0}, 0},
	} {
		got := must(F1(c.preds, c.labels))
		if !near(got, c.want, 1e-15) {
			t.Errorf("%s: f1 = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := F1([]int{0, 2}, []int{0, 1}); err == nil || !strings.Contains(err.Error(), "preds[1]") {
		t.Errorf("class 2 in a binary f1: err = %v", err)
	}
	if _, err := F1([]float32{0, 1}, []float32{0, 0.5}); err == nil {
		t.Error("label 0.5 accepted")
	}
}

func TestMCC(t *testing.T) {
	must := mustOK(t)
	for _, c := range []struct {
		name          string
		preds, labels []int
		want          float64
	}{
		// TP 2, TN 1, FP 1, FN 1: (2·1 − 1·1)/sqrt(3·3·2·2) = 1/6.
		{"binary", []int{1, 1, 0, 1, 0}, []int{1, 0, 0, 1, 1}, 1.0 / 6},
		{"perfect", []int{0, 1, 1, 0}, []int{0, 1, 1, 0}, 1},
		{"inverted", []int{1, 0, 0, 1}, []int{0, 1, 1, 0}, -1},
		// c 3, s 6, t (2,2,2), p (3,1,2): (18−12)/sqrt((36−12)(36−14)).
		{"multiclass", []int{0, 2, 1, 0, 0, 2}, []int{0, 1, 2, 0, 1, 2}, 6 / math.Sqrt(24*22)},
		// Degenerate: every prediction (or every label) one class makes the
		// denominator 0, and sklearn returns 0.
		{"constant preds", []int{1, 1, 1, 1}, []int{0, 1, 0, 1}, 0},
		{"constant labels", []int{0, 1, 0, 1}, []int{1, 1, 1, 1}, 0},
		{"all one class, right", []int{0, 0}, []int{0, 0}, 0},
		{"labels need not be 0..k", []int{7, -3, 7}, []int{7, -3, -3}, 0.5},
	} {
		got := must(MCC(c.preds, c.labels))
		if !near(got, c.want, 1e-15) {
			t.Errorf("%s: mcc = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := MCC([]float32{0, 1.5}, []float32{0, 1}); err == nil {
		t.Error("continuous prediction accepted")
	}
	if _, err := MCC([]float64{0, math.NaN()}, []float64{0, 1}); err == nil {
		t.Error("NaN prediction accepted")
	}
}

func TestPearson(t *testing.T) {
	must := mustOK(t)
	for _, c := range []struct {
		name string
		x, y []float64
		want float64
	}{
		{"linear", []float64{1, 2, 3, 4}, []float64{2, 4, 6, 8}, 1},
		{"anti", []float64{1, 2, 3, 4}, []float64{8, 6, 4, 2}, -1},
		// xm (−1,0,1), ym (−1,1,0): 1/(√2·√2).
		{"half", []float64{1, 2, 3}, []float64{1, 3, 2}, 0.5},
		// n == 2: scipy returns sign(Δx)·sign(Δy).
		{"two up", []float64{0, 5}, []float64{1, 1.5}, 1},
		{"two down", []float64{0, 5}, []float64{1.5, 1}, -1},
	} {
		got := must(Pearson(c.x, c.y))
		if !near(got, c.want, 1e-15) {
			t.Errorf("%s: pearson = %v, want %v", c.name, got, c.want)
		}
	}
	// scipy warns and returns NaN for a constant input, and NaN propagates.
	for _, c := range []struct {
		name string
		x, y []float64
	}{
		{"constant preds", []float64{1, 1, 1}, []float64{1, 2, 3}},
		{"constant labels", []float64{1, 2, 3}, []float64{0, 0, 0}},
		{"constant pair", []float64{4, 4}, []float64{1, 2}},
		{"NaN", []float64{1, math.NaN(), 3}, []float64{1, 2, 3}},
		{"NaN first", []float64{math.NaN(), 2}, []float64{1, 2}},
	} {
		if got := must(Pearson(c.x, c.y)); !math.IsNaN(got) {
			t.Errorf("%s: pearson = %v, want NaN", c.name, got)
		}
	}
	if _, err := Pearson([]float64{1}, []float64{1}); err == nil {
		t.Error("pearson of one sample: no error (scipy raises)")
	}
	if _, err := Pearson([]float64{1, 2}, []float64{1, 2, 3}); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestRanks(t *testing.T) {
	got := ranks([]float64{3, 1, 4, 1, 5, 9, 2, 6, 5})
	want := []float64{4, 1.5, 5, 1.5, 6.5, 9, 3, 8, 6.5}
	if !slices.Equal(got, want) {
		t.Errorf("ranks = %v, want %v", got, want)
	}
	// -0 and +0 tie, as in numpy's sort.
	if got := ranks([]float64{0, math.Copysign(0, -1), -1}); !slices.Equal(got, []float64{2.5, 2.5, 1}) {
		t.Errorf("signed zeros ranked %v", got)
	}
}

func TestSpearman(t *testing.T) {
	must := mustOK(t)
	for _, c := range []struct {
		name string
		x, y []float64
		want float64
	}{
		{"monotone", []float64{1, 10, 100, 1000}, []float64{-5, 0, 2, 3}, 1},
		{"reversed", []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		// Ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): centred sums
		// Sxy 4.5, Sxx 4.5, Syy 5, so ρ = 4.5/√(4.5·5) = √0.9.
		{"tie", []float64{1, 2, 2, 3}, []float64{1, 2, 3, 4}, math.Sqrt(0.9)},
		// Binary predictions against graded labels: ranks (1.5, 3.5, 1.5,
		// 3.5) and (1, 3, 2, 4): Sxy 4, Sxx 4, Syy 5.
		{"binary preds", []float64{0, 1, 0, 1}, []float64{0.4, 3.2, 1, 4.8}, 4 / math.Sqrt(20)},
	} {
		got := must(Spearman(c.x, c.y))
		if !near(got, c.want, 1e-15) {
			t.Errorf("%s: spearmanr = %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		x, y []float64
	}{
		{"one sample", []float64{1}, []float64{2}},
		{"constant", []float64{2, 2, 2}, []float64{1, 2, 3}},
		{"NaN", []float64{1, 2, math.NaN()}, []float64{1, 2, 3}},
	} {
		if got := must(Spearman(c.x, c.y)); !math.IsNaN(got) {
			t.Errorf("%s: spearmanr = %v, want NaN", c.name, got)
		}
	}
}

func TestTaskTable(t *testing.T) {
	want := map[string]struct {
		set       MetricSet
		objective string
	}{
		"sst-2": {AccuracySet, NameAcc}, "sst-5": {AccuracySet, NameAcc}, "mr": {AccuracySet, NameAcc},
		"cr": {AccuracySet, NameAcc}, "mpqa": {AccuracySet, NameAcc}, "subj": {AccuracySet, NameAcc},
		"trec": {AccuracySet, NameAcc}, "snli": {AccuracySet, NameAcc}, "qnli": {AccuracySet, NameAcc},
		"rte": {AccuracySet, NameAcc}, "wnli": {AccuracySet, NameAcc},
		"cola":    {MCCSet, NameMCC},
		"mnli":    {MNLISet, NameMNLIAcc},
		"mnli-mm": {MNLIMMSet, NameMNLIMMAcc},
		// default_dev_objective looks for eval_f1 and eval_pearson, not for
		// eval_acc_and_f1 or eval_corr.
		"mrpc":  {AccF1Set, NameF1},
		"qqp":   {AccF1Set, NameF1},
		"sts-b": {CorrSet, NamePearson},
	}
	if got := TaskNames(); len(got) != len(want) {
		t.Errorf("TaskNames = %v, want the %d tasks of the table", got, len(want))
	}
	for name, w := range want {
		task, err := LookupTask(name)
		if err != nil {
			t.Fatal(err)
		}
		if task.Name != name || task.Metrics != w.set || task.Objective != w.objective || task.Regression != (name == "sts-b") {
			t.Errorf("%s: %+v, want set %v objective %s", name, task, w.set, w.objective)
		}
	}
	if _, err := LookupTask("squad"); err == nil || !strings.Contains(err.Error(), `"squad"`) {
		t.Errorf("unknown task: err = %v", err)
	}
	if _, err := LookupTask("SST-2"); err == nil || !strings.Contains(err.Error(), `"sst-2"`) {
		t.Errorf("upper-case task: err = %v, want a hint at sst-2", err)
	}
	if got := AccF1Set.Names(); !slices.Equal(got, []string{"acc", "f1", "acc_and_f1"}) {
		t.Errorf("AccF1Set.Names = %v", got)
	}
	if got := ObjectiveOrder(); !slices.Equal(got, []string{"mnli/acc", "mnli-mm/acc", "f1", "mcc", "pearson", "acc"}) {
		t.Errorf("ObjectiveOrder = %v", got)
	}
}

func compute[P, L Number](t *testing.T, task string, preds []P, labels []L) Result {
	t.Helper()
	tk, err := LookupTask(task)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(tk, preds, labels)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(r Result) []string {
	var out []string
	for _, m := range r {
		out = append(out, m.Name)
	}
	return out
}

func TestCompute(t *testing.T) {
	preds, labels := []int{1, 1, 0, 1, 0}, []int{1, 0, 0, 1, 1}
	r := compute(t, "mrpc", preds, labels)
	if !slices.Equal(names(r), []string{"acc", "f1", "acc_and_f1"}) {
		t.Fatalf("mrpc metrics %v", r)
	}
	acc, _ := r.Get(NameAcc)
	f1, _ := r.Get(NameF1)
	both, _ := r.Get(NameAccAndF1)
	if acc != 0.6 || !near(f1, 2.0/3, 1e-15) || both != (acc+f1)/2 {
		t.Errorf("mrpc = %v", r)
	}
	if name, v, err := DevObjective(r); err != nil || name != NameF1 || v != f1 {
		t.Errorf("mrpc objective = %s %v %v, want f1", name, v, err)
	}

	for task, name := range map[string]string{"mnli": "mnli/acc", "mnli-mm": "mnli-mm/acc", "sst-5": "acc", "snli": "acc"} {
		r := compute(t, task, []int{0, 2, 1, 1}, []int{0, 2, 2, 1})
		if len(r) != 1 || r[0].Name != name || r[0].Value != 0.75 {
			t.Errorf("%s = %v, want %s 0.75", task, r, name)
		}
	}
	if r := compute(t, "cola", preds, labels); len(r) != 1 || r[0].Name != NameMCC || !near(r[0].Value, 1.0/6, 1e-15) {
		t.Errorf("cola = %v", r)
	}

	// STS-B with MeZO's default prompt-mode predictions (argmax, 0 or 1)
	// against float32 labels.
	r = compute(t, "sts-b", []int64{0, 1, 0, 1}, []float32{0.4, 3.2, 1, 4.8})
	if !slices.Equal(names(r), []string{"pearson", "spearmanr", "corr"}) {
		t.Fatalf("sts-b metrics %v", r)
	}
	p, _ := r.Get(NamePearson)
	s, _ := r.Get(NameSpearman)
	c, _ := r.Get(NameCorr)
	if !near(s, 4/math.Sqrt(20), 1e-15) || c != (p+s)/2 {
		t.Errorf("sts-b = %v", r)
	}
	if name, v, _ := DevObjective(r); name != NamePearson || v != p {
		t.Errorf("sts-b objective %s %v, want pearson %v", name, v, p)
	}

	// Constant predictions: pearson, spearmanr and corr are NaN, and a NaN
	// objective never beats the initial −inf, nor anything else.
	r = compute(t, "sts-b", []int64{1, 1, 1}, []float32{0.4, 3.2, 1})
	for _, m := range r {
		if !math.IsNaN(m.Value) {
			t.Errorf("constant sts-b predictions: %s = %v, want NaN", m.Name, m.Value)
		}
	}
	_, v, _ := DevObjective(r)
	if Better(v, math.Inf(-1)) || Better(0.5, v) {
		t.Error("NaN objective compared as a number")
	}
	if Better(0.5, 0.5) || !Better(0.5000001, 0.5) {
		t.Error("Better is not strict >")
	}

	if _, err := Compute(Task{Name: "x"}, preds, labels); err == nil {
		t.Error("zero Task accepted")
	}
	if _, _, err := DevObjective(Result{{NameAccAndF1, 1}, {NameCorr, 1}}); err == nil {
		t.Error("DevObjective found an objective among acc_and_f1 and corr")
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	logits := []float32{
		1, 1, // tie: first index
		0, 2, 2, // width 3 below
	}
	got, err := Argmax(logits[:2], 2)
	if err != nil || !slices.Equal(got, []int{0}) {
		t.Errorf("tie: %v %v", got, err)
	}
	got, _ = Argmax(logits[2:], 3)
	if !slices.Equal(got, []int{1}) {
		t.Errorf("tie after a smaller value: %v", got)
	}
	rows := []float32{
		1, nan, 3, // NaN is maximal
		nan, nan, 0, // first NaN
		3, 2, nan, // a later NaN still wins
		negZero, 0, -1, // −0 == +0: first
		-3, -2, -1,
	}
	got, _ = Argmax(rows, 3)
	if want := []int{1, 0, 2, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("Argmax = %v, want %v", got, want)
	}
	if _, err := Argmax(rows, 4); err == nil {
		t.Error("ragged logits accepted")
	}
	if _, err := Argmax(rows, 0); err == nil {
		t.Error("width 0 accepted")
	}
}

func TestAverageSamples(t *testing.T) {
	// Two samples of a 2-example, 2-label eval.
	got, err := AverageSamples([]float32{1, 2, 3, 4, 3, 4, 5, 6}, 2, 2)
	if err != nil || !slices.Equal(got, []float32{2, 3, 4, 5}) {
		t.Errorf("AverageSamples = %v %v", got, err)
	}
	one := []float32{1, 2, 3}
	if got, _ := AverageSamples(one, 1, 1); !slices.Equal(got, one) {
		t.Errorf("num_sample 1 changed the logits: %v", got)
	}
	if _, err := AverageSamples(one, 2, 1); err == nil {
		t.Error("3 values as 2 samples accepted")
	}
}

func TestRegressionPredictions(t *testing.T) {
	logits := []float32{0, 0, 10, -10, -10, 10, 1.5, 2.25, -40, 40}
	got, err := RegressionPredictions(logits, STSBLower, STSBUpper)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		// exp(log_softmax(l)[1]) = 1/(1+exp(l0−l1)).
		want := STSBUpper / (1 + math.Exp(float64(logits[2*i]-logits[2*i+1])))
		if !near(float64(got[i]), want, 3e-7) {
			t.Errorf("row %d: %v, want %v", i, got[i], want)
		}
	}
	if got[0] != 2.5 {
		t.Errorf("equal logits give %v, want exactly 2.5", got[0])
	}
	if _, err := RegressionPredictions(logits[:3], 0, 5); err == nil {
		t.Error("odd logits accepted")
	}
}

func TestEvalLoss(t *testing.T) {
	// Two full batches of 4 and a last batch of 2: (4·1 + 4·2 + 2·4)/10.
	got, err := EvalLoss([]float32{1, 2, 4}, []int{4, 4, 2})
	if err != nil || got != 2 {
		t.Errorf("EvalLoss = %v %v, want 2", got, err)
	}
	// The mean is numpy's pairwise float32 sum, not a running sum. Summed
	// in order, 2^24 + 1 + … + 1 stays 2^24 (each +1 rounds away); numpy's
	// eight accumulators give ((2^24+1)+(1+1)) + ((1+1)+(1+1)) = 2^24+6,
	// then +1 rounds to even, 2^24+8; divided by 9 that is 1864136.
	means := []float32{1 << 24, 1, 1, 1, 1, 1, 1, 1, 1}
	got, err = EvalLoss(means, []int{1, 1, 1, 1, 1, 1, 1, 1, 1})
	if err != nil || got != 1864136 {
		t.Errorf("pairwise EvalLoss = %v %v, want 1864136", got, err)
	}
	for _, sizes := range [][]int{{4, 2, 4}, {2, 4}, {4, 0}, {4, 5}, {4}} {
		if _, err := EvalLoss([]float32{1, 1}, sizes); err == nil {
			t.Errorf("batch sizes %v accepted", sizes)
		}
	}
	if _, err := EvalLoss(nil, nil); err == nil {
		t.Error("no batches accepted")
	}
}
