package train

import (
	"fmt"

	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
	"github.com/gomezo/gomezo/pkg/metrics"
)

// EvalRecord is one evaluation of a split.
type EvalRecord struct {
	Step  int    // global step the model had
	Split string // dev or test
	Final bool   // the final evaluation after training (best model reloaded)
	// Loss is the reference's eval_loss (each batch's mean loss repeated
	// by the batch size, averaged in float32).
	Loss      float32
	Metrics   metrics.Result
	Objective float64 // the dev objective's value
	// ObjectiveName names the metric Objective is.
	ObjectiveName string
	// Logits are the label logits, one row of Classes per query example
	// (averaged over demonstration draws in prompt-demo mode); Labels the
	// gold labels.
	Logits  []float32
	Classes int
	Labels  []int
	// Targets are the regression labels (STS-B), nil otherwise.
	Targets []float64
	Correct int // examples whose argmax equals the label
}

// HasSplit reports whether the session loaded split (dev or test).
func (s *Session) HasSplit(split string) bool {
	if s.LM != nil {
		return s.LM.split(split) != nil
	}
	switch split {
	case "dev":
		return s.Dev != nil
	case "test":
		return s.Test != nil
	}
	return false
}

// trainLen is the number of training examples.
func (s *Session) trainLen() int {
	if s.LM != nil {
		return len(s.LM.Train)
	}
	return s.Train.Len()
}

// EvaluateSplit evaluates split (dev or test) with the model as it is.
func (s *Session) EvaluateSplit(split string, step int) (*EvalRecord, error) {
	if s.LM != nil {
		return s.evaluateCandidates(split, step)
	}
	d := s.Dev
	if split == "test" {
		d = s.Test
	}
	return s.Evaluate(d, split, step)
}

// Evaluate runs the model on every feature of d in order, in batches of
// eval.batch_size, in inference mode, and computes the task's metrics.
func (s *Session) Evaluate(d *lmbff.Dataset, split string, step int) (*EvalRecord, error) {
	if d == nil {
		return nil, fmt.Errorf("train: no %s split loaded", split)
	}
	if err := s.ensureNet(); err != nil {
		return nil, err
	}
	if err := s.evalSeed(); err != nil {
		return nil, err
	}
	C := s.Net.Classes()
	rec := &EvalRecord{Step: step, Split: split, Classes: C}
	logits, loss, err := s.evalPasses(d.Len(), split, step, func(lo, hi int) (*batch.Batch, error) {
		fs := make([]lmbff.Feature, 0, hi-lo)
		for i := lo; i < hi; i++ {
			f, err := d.Get(i, nil)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		b, err := lmbff.Collate(fs, s.Tok.PAD())
		return &b, err
	})
	if err != nil {
		return nil, err
	}
	rec.Loss = loss
	if d.NumSample > 1 {
		if logits, err = metrics.AverageSamples(logits, d.NumSample, C); err != nil {
			return nil, err
		}
	}
	rec.Logits = logits
	for i := range d.Query {
		f, err := d.Get(i, nil)
		if err != nil {
			return nil, err
		}
		rec.Labels = append(rec.Labels, f.LabelID)
		if s.Metric.Regression {
			rec.Targets = append(rec.Targets, f.Target)
		}
	}
	if err := s.score(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// evalPasses runs the inference passes of an evaluation over n examples,
// eval.batch_size at a time (get collates examples [lo, hi)): the scores,
// row-major, and eval_loss — the reference repeats each batch's mean by
// its size (the dataloader's batch size, the remainder for the last),
// truncates to the split's size and averages.
func (s *Session) evalPasses(n int, split string, step int, get func(lo, hi int) (*batch.Batch, error)) ([]float32, float32, error) {
	bs := s.Recipe.Eval.BatchSize
	var scores, means []float32
	var sizes []int
	for lo := 0; lo < n; lo += bs {
		hi := min(lo+bs, n)
		b, err := get(lo, hi)
		if err != nil {
			return nil, 0, err
		}
		sc, loss, err := s.Net.Eval(b)
		if err != nil {
			return nil, 0, fmt.Errorf("train: %s evaluation at step %d: %w", split, step, err)
		}
		scores, means, sizes = append(scores, sc...), append(means, loss), append(sizes, hi-lo)
	}
	loss, err := metrics.EvalLoss(means, sizes)
	return scores, loss, err
}

// evalSeed is the evaluation DataLoader's draw: its iterator takes its base
// seed from torch's global generator, which fine-tuning's dropout also uses.
func (s *Session) evalSeed() error {
	if s.global == nil {
		return nil
	}
	_, err := s.global.Random64()
	return err
}

// score fills rec's predictions' metrics and the dev objective from its
// logits and labels (and targets).
func (s *Session) score(rec *EvalRecord) error {
	preds, err := metrics.Argmax(rec.Logits, rec.Classes)
	if err != nil {
		return err
	}
	for i, p := range preds {
		if p == rec.Labels[i] {
			rec.Correct++
		}
	}
	// STS-B in prompt mode: the reference scores the argmax of the two
	// label-word log-probabilities against the graded targets (MeZO builds
	// regression outputs only with --use_task_word).
	if s.Metric.Regression {
		rec.Correct = 0
		rec.Metrics, err = metrics.Compute(s.Metric, preds, rec.Targets)
	} else {
		rec.Metrics, err = metrics.Compute(s.Metric, preds, rec.Labels)
	}
	if err != nil {
		return err
	}
	if name := s.Recipe.Eval.Objective; name != "" && name != "auto" {
		v, ok := rec.Metrics.Get(name)
		if !ok {
			return fmt.Errorf("eval.objective: %s has no metric %q", s.Recipe.Task.Name, name)
		}
		rec.ObjectiveName, rec.Objective = name, v
	} else if rec.ObjectiveName, rec.Objective, err = metrics.DevObjective(rec.Metrics); err != nil {
		return err
	}
	return nil
}
