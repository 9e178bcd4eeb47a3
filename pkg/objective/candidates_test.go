package objective_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/paritytest"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/opt"
	"github.com/gomezo/gomezo/pkg/objective"
)

// Tolerances of ../shared/fixtures/opt-tiny/README.md for float32.
const (
	lpAbs, lpRel     = 1e-5, 1e-5 // logits and log-probs
	sumAbs           = 1e-5       // sums of several log-probs
	lossAbs          = 1e-6
	gradAbs, gradRel = 1e-6, 1e-4
)

// candidatesFrom builds the batch recorded as prefix_{input_ids,
// attention_mask, option_len} in the expected file; groups come from
// cand_num_options and labels from cand_cls_labels (repeated per row),
// when asked for.
func candidatesFrom(c *paritytest.Checker, prefix string, grouped bool) *batch.Batch {
	ids, shape := c.Int64s(prefix + "_input_ids")
	mask, _ := c.Int64s(prefix + "_attention_mask")
	ol, _ := c.Int64s(prefix + "_option_len")
	b := &batch.Batch{Size: int(shape[0]), Len: int(shape[1]), InputIDs: ids, AttentionMask: mask}
	for _, k := range ol {
		b.OptionLen = append(b.OptionLen, int(k))
	}
	if grouped {
		nopt, _ := c.Int64s(prefix + "_num_options")
		labels, _ := c.Int64s(prefix + "_cls_labels")
		for i := 0; i < len(nopt); i += int(nopt[i]) {
			b.NumOptions = append(b.NumOptions, int(nopt[i]))
			b.Labels = append(b.Labels, labels[i])
		}
	}
	return b
}

// TestCandidateParity compares candidate scoring and large_models' training
// losses with MeZO's own code on every OPT parity directory whose expected
// file records them: per-token option log-probabilities, score sums and
// means, the left-padded batch's positions and logits (at tokens), the
// train_as_classification loss and all its gradients, the option loss, and
// the prediction by the highest mean score.
func TestCandidateParity(t *testing.T) {
	n := 0
	for _, dir := range paritytest.Dirs(t, "opt") {
		exp := paritytest.LoadExpected(t, dir)
		if _, ok := exp.Tensors["cand_input_ids"]; !ok {
			t.Logf("%s records no candidates", dir)
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := paritytest.NewChecker(t, exp, dir)
			checkCandidates(t, c, dir)
			for _, name := range c.Unused() {
				if strings.HasPrefix(name, "cand_") || strings.HasPrefix(name, "cls_") || strings.HasPrefix(name, "gold_") || name == "option_loss" {
					t.Errorf("%s: expected %s was not compared", dir, name)
				}
			}
			t.Logf("%s: compared %d tensors; the closest used %.0f%% of its tolerance (%s)", dir, c.Compared, 100*c.Worst, c.WorstName)
		})
	}
	if n == 0 {
		t.Fatal("no OPT parity directory records candidates")
	}
}

func checkCandidates(t *testing.T, c *paritytest.Checker, dir string) {
	m, err := opt.Load(dir, hf.FormatSafetensors, opt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cls := candidatesFrom(c, "cand", true)
	checkCollation(t, dir, cls)

	ob, err := objective.NewCandidateObjective(m, objective.CandidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Grad)
	defer s.Close()
	lp := ob.LogProbs(s, cls, opt.ForwardOptions{})
	loss := ob.ClassificationLoss(s, cls, opt.ForwardOptions{})
	mask := c.Input(s, "cand_attention_mask", torch.CPU)
	pos := m.PositionIDs(s, mask)
	logits := m.Logits(s, opt.Inputs{InputIDs: c.Input(s, "cand_input_ids", torch.CPU), AttentionMask: mask}, opt.ForwardOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	c.Compare("cand_position_ids", pos, 0, 0)
	// Logits at left-pad positions are not compared (README: they differ
	// between dtypes and never reach a token).
	var keep []bool
	for _, v := range cls.AttentionMask {
		for w := 0; w < m.Config.VocabSize; w++ {
			keep = append(keep, v == 1)
		}
	}
	c.CompareMasked("cand_batch_logits", paritytest.Values(t, logits), keep, lpAbs, lpRel)
	tokens := paritytest.Values(t, lp.Tokens)
	for k := 0; k < cls.Size; k++ {
		row := tokens[k*lp.K : (k+1)*lp.K]
		c.CompareValues(fmt.Sprintf("cand_token_logprobs.%d", k), row[lp.K-cls.OptionLen[k]:], lpAbs, lpRel)
	}
	c.Compare("cand_score_sum", lp.Sum, sumAbs, 0)
	c.Compare("cand_score_mean", lp.Mean, lpAbs, lpRel)
	c.Compare("cls_loss", loss, lossAbs, 0)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	c.CompareGrads(m.Params, "cls_grad.", gradAbs, gradRel, func(n string) bool { return strings.HasSuffix(n, "self_attn.k_proj.bias") })
	if err := m.Params.SetRequiresGrad(false); err != nil {
		t.Fatal(err)
	}

	// The option loss on the gold rows, in inference mode as MeZO's ZO
	// forward runs.
	gold := candidatesFrom(c, "gold", false)
	ob2, err := objective.NewCandidateObjective(m, objective.CandidateOptions{Loss: objective.LossOption})
	if err != nil {
		t.Fatal(err)
	}
	ol, err := ob2.Loss(gold)
	if err != nil {
		t.Fatal(err)
	}
	c.CompareValues("option_loss", []float64{float64(ol)}, lossAbs, 0)

	// Evaluation: the highest mean score per example.
	pred, _, evalLoss, err := ob.Eval(cls)
	if err != nil {
		t.Fatal(err)
	}
	c.CompareValues("cls_loss", []float64{float64(evalLoss)}, lossAbs, 0)
	means := c.Want("cand_score_mean")
	var want []int
	for e, g := 0, 0; e < len(cls.NumOptions); g, e = g+cls.NumOptions[e], e+1 {
		best := 0
		for k := 1; k < cls.NumOptions[e]; k++ {
			if means[g+k] > means[g+best] {
				best = k
			}
		}
		want = append(want, best)
	}
	if !reflect.DeepEqual(pred, want) {
		t.Errorf("%s: predictions %v, the reference's scores give %v", dir, pred, want)
	}
	if recorded := recordedPredictions(t, dir); recorded != nil && !reflect.DeepEqual(pred, recorded) {
		t.Errorf("%s: predictions %v, expected.json's cand_pred_by_mean %v", dir, pred, recorded)
	}
}

// expectedJSON is the part of expected.json the candidate tests read.
type expectedJSON struct {
	Candidates []struct {
		Row, Candidate int
		OptionIDs      []int `json:"option_ids"`
		InputIDs       []int `json:"input_ids"`
	} `json:"candidates"`
	PredByMean []int `json:"cand_pred_by_mean"`
}

func readExpectedJSON(t *testing.T, dir string) *expectedJSON {
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var e expectedJSON
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("%s/expected.json: %v", dir, err)
	}
	return &e
}

func recordedPredictions(t *testing.T, dir string) []int {
	if e := readExpectedJSON(t, dir); e != nil {
		return e.PredByMean
	}
	return nil
}

// checkCollation: NewCandidates on the unpadded prefix+option sequences of
// expected.json reproduces the reference collator's left-padded batch
// (pad_to_multiple_of 8).
func checkCollation(t *testing.T, dir string, want *batch.Batch) {
	e := readExpectedJSON(t, dir)
	if e == nil || len(e.Candidates) == 0 {
		t.Logf("%s: no expected.json candidates: collation not checked", dir)
		return
	}
	var seqs [][]int
	var ol []int
	for _, cd := range e.Candidates {
		seqs = append(seqs, cd.InputIDs)
		ol = append(ol, len(cd.OptionIDs))
	}
	got, err := objective.NewCandidates(seqs, ol, want.NumOptions, want.Labels, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len != want.Len || !reflect.DeepEqual(got.InputIDs, want.InputIDs) || !reflect.DeepEqual(got.AttentionMask, want.AttentionMask) || !reflect.DeepEqual(got.OptionLen, want.OptionLen) {
		t.Errorf("%s: NewCandidates gave a %d×%d batch %v (mask %v, option lengths %v), the reference %d×%d %v (mask %v, %v)",
			dir, got.Size, got.Len, got.InputIDs, got.AttentionMask, got.OptionLen, want.Size, want.Len, want.InputIDs, want.AttentionMask, want.OptionLen)
	}
}

// TestCandidatesValidate: malformed batches are refused with the field
// named.
func TestCandidatesValidate(t *testing.T) {
	for _, c := range []struct {
		name       string
		seqs       [][]int
		ol, nopt   []int
		labels     []int64
		wantSubstr string
	}{
		{"option too long", [][]int{{2, 5}}, []int{2}, nil, nil, "option length"},
		{"no option", [][]int{{2, 5}}, []int{0}, nil, nil, "option length"},
		{"groups", [][]int{{2, 5}, {2, 6}, {2, 7}}, []int{1, 1, 1}, []int{2}, nil, "num_options"},
		{"label", [][]int{{2, 5}, {2, 6}}, []int{1, 1}, []int{2}, []int64{2}, "label 2"},
		{"label count", [][]int{{2, 5}, {2, 6}}, []int{1, 1}, []int{2}, []int64{0, 1}, "2 labels for 1 examples"},
	} {
		_, err := objective.NewCandidates(c.seqs, c.ol, c.nopt, c.labels, 1, 8)
		if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.wantSubstr)
		}
	}
}

// TestClassificationLossMixedGroups: with differing option counts the loss
// is the mean of the per-example losses (large_models' loop), each of which
// is the equal-count loss of a batch holding that example alone.
func TestClassificationLossMixedGroups(t *testing.T) {
	dir := testenvOPTTiny(t)
	e := readExpectedJSON(t, dir)
	if e == nil {
		t.Fatal("opt-tiny has no expected.json")
	}
	m, err := opt.Load(dir, "", opt.Options{DType: torch.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ob, err := objective.NewCandidateObjective(m, objective.CandidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs [][]int
	var ol []int
	for _, cd := range e.Candidates {
		seqs = append(seqs, cd.InputIDs)
		ol = append(ol, len(cd.OptionIDs))
	}
	loss := func(seqs [][]int, ol, nopt []int, labels []int64) float64 {
		c, err := objective.NewCandidates(seqs, ol, nopt, labels, m.Config.PadID, 8)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ob.Loss(c)
		if err != nil {
			t.Fatal(err)
		}
		s := torch.NewScope(torch.Inference)
		defer s.Close()
		l := ob.ClassificationLoss(s, c, opt.ForwardOptions{})
		x, err := l.Item()
		if err != nil || float64(float32(x)) != float64(v) {
			t.Fatalf("Loss %v and ClassificationLoss %v differ (%v)", v, x, err)
		}
		return x
	}
	mixed := loss(seqs, ol, []int{2, 4}, []int64{1, 3})
	a := loss(seqs[:2], ol[:2], []int{2}, []int64{1})
	b := loss(seqs[2:], ol[2:], []int{4}, []int64{3})
	if d := mixed - (a+b)/2; d > 1e-12 || d < -1e-12 {
		t.Errorf("mixed-group loss %.15g, mean of the per-example losses %.15g", mixed, (a+b)/2)
	}
}

func testenvOPTTiny(t *testing.T) string {
	for _, d := range paritytest.Dirs(t, "opt") {
		if filepath.Base(d) == "opt-tiny" {
			return d
		}
	}
	t.Fatal("no opt-tiny fixture")
	return ""
}
