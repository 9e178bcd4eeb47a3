package train

import (
	"errors"
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
	"github.com/gomezo/gomezo/pkg/probe"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// ProbeRecord is what linear probing measured and wrote.
type ProbeRecord struct {
	// Order is the training example of each feature row: the row order of
	// the fit, which sets its cross-validation folds.
	Order []int
	// Features [n][d] are the head's inputs (float32 values, widened) and
	// Labels their classes, as given to the fit.
	Features [][]float64
	Labels   []int
	// Fit is the probe written into the head (the teacher's when forced);
	// Own is this run's fit when the teacher replaced it, else nil.
	Fit, Own *probe.Fit
	// W [C][d] and B [C] are the head rows written (Fit.HeadRows).
	W [][]float64
	B []float64
	// TrainAccuracy is Fit's accuracy on the features.
	TrainAccuracy float64
}

// probes reports whether the recipe runs linear probing: method.kind lp,
// or method.from_linearhead before training.
func probes(r *recipe.Recipe) bool {
	return r.Method.Kind == recipe.LP || r.Method.FromLinearHead
}

// probeOptions are the LogisticRegressionCV settings of the recipe.
func probeOptions(r *recipe.Recipe) probe.Options {
	if r.Method.LPEarlyStopping {
		return probe.EarlyStopping
	}
	return probe.Options{}
}

// LinearProbe runs the reference's LinearHeadTrainer.train (MEZO_SPEC §6)
// on the session: one pass of a fresh training DataLoader over the
// training set (its sampler seeded from global, then the iterator's base
// seed, then the permutation: the reference's draws, so a following
// training loop sees the streams the reference's does; each fetched example
// draws its demonstration context from demos), extracting the features of
// each batch in inference mode with the pass's tensors freed per batch;
// then the cross-validated logistic regression (pkg/probe) and the write of
// its rows into the label-word rows of the decoder (prompt) or the bare
// classifier (finetune). teacher.Probe, when set, may replace the fit
// (replays of a recorded reference fit).
func (s *Session) LinearProbe(global *torch.Generator, demos lmbff.Permuter, teacher *Teacher) (*ProbeRecord, error) {
	r := s.Recipe
	samplerSeed, err := global.Random64()
	if err != nil {
		return nil, err
	}
	sampler, err := torch.NewGenerator(torch.CPU, uint64(samplerSeed))
	if err != nil {
		return nil, err
	}
	defer sampler.Close()
	if _, err := global.Random64(); err != nil { // the DataLoader iterator's base seed
		return nil, err
	}
	n := s.Train.Len()
	order, err := sampler.Randperm(n)
	if err != nil {
		return nil, err
	}
	rec := &ProbeRecord{}
	for _, idx := range cut(order, r.Optim.BatchSize, r.Optim.DropLast) {
		b, err := s.trainBatch(idx, demos)
		if err != nil {
			return nil, err
		}
		feat, d, err := s.Objective.Features(b)
		if err != nil {
			return nil, fmt.Errorf("linear probing: features: %w", err)
		}
		if b.Labels == nil {
			return nil, errors.New("linear probing: the training batch has no labels")
		}
		for i, j := range idx {
			row := make([]float64, d)
			for k, v := range feat[i*d : (i+1)*d] {
				row[k] = float64(v)
			}
			rec.Features = append(rec.Features, row)
			rec.Labels = append(rec.Labels, int(b.Labels[i]))
			rec.Order = append(rec.Order, j)
		}
	}
	if len(rec.Features) == 0 {
		return nil, errors.New("linear probing: no training features (optim.drop_last with a batch larger than the training set?)")
	}
	fit, err := probe.FitCV(rec.Features, rec.Labels, probeOptions(r))
	if err != nil {
		return nil, fmt.Errorf("linear probing: %w", err)
	}
	rec.Fit = fit
	if teacher != nil && teacher.Probe != nil {
		if f, ok := teacher.Probe(fit); ok {
			rec.Fit, rec.Own = f, fit
		}
	}
	if rec.Fit.Classes != s.Objective.Classes() {
		return nil, fmt.Errorf("linear probing: the training labels have %d classes, the head %d", rec.Fit.Classes, s.Objective.Classes())
	}
	rec.W, rec.B = rec.Fit.HeadRows()
	if err := s.Objective.WriteHead(rec.W, rec.B); err != nil {
		return nil, fmt.Errorf("linear probing: %w", err)
	}
	rec.TrainAccuracy = rec.Fit.Accuracy(rec.Features, rec.Labels)
	return rec, nil
}

// probeSummary is the probe as result.json and metrics.jsonl hold it.
func probeSummary(p *ProbeRecord) map[string]any {
	if p == nil {
		return nil
	}
	m := map[string]any{"C": p.Fit.C, "classes": p.Fit.Classes, "examples": len(p.Labels), "train_accuracy": p.TrainAccuracy}
	if len(p.Features) > 0 {
		m["features"] = len(p.Features[0])
	}
	if p.Own != nil {
		m["replaced_fit_C"] = p.Own.C
	}
	return m
}
