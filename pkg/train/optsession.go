package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/data/largemodels"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/metrics"
	"github.com/gomezo/gomezo/pkg/model/opt"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/peft"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/tokenizer"
)

// LMData is a large_models task's data (model.family opt): the samples of
// each split and their encodings, one token sequence per candidate.
type LMData struct {
	Task *largemodels.Task
	// Train, Dev and Test are the encoded examples (Dev nil without dev
	// examples, Test nil unless eval.do_predict).
	Train, Dev, Test []largemodels.Encoded
	// Option is the option-only loss (largemodels.loss option): a training
	// batch then holds the gold rows alone.
	Option bool
	pad    int
}

// split returns the encoded examples of dev or test (nil when not loaded).
func (d *LMData) split(name string) []largemodels.Encoded {
	switch name {
	case "dev":
		return d.Dev
	case "test":
		return d.Test
	}
	return nil
}

// batch collates examples idx of encs into a left-padded candidate batch
// (pad to a multiple of 8, as large_models' collator): every candidate with
// the groups and labels, or with gold the correct candidates' rows alone.
func (d *LMData) batch(encs []largemodels.Encoded, idx []int, gold bool) (*batch.Batch, error) {
	var seqs [][]int
	var ol, nopt []int
	var labels []int64
	for _, i := range idx {
		e := encs[i]
		if gold {
			s, k := e.Gold()
			seqs, ol = append(seqs, s), append(ol, k)
			continue
		}
		seqs, ol = append(seqs, e.Seqs...), append(ol, e.OptionLen...)
		nopt, labels = append(nopt, len(e.Seqs)), append(labels, int64(e.Correct))
	}
	if gold {
		return objective.NewCandidates(seqs, ol, nil, nil, d.pad, 8)
	}
	return objective.NewCandidates(seqs, ol, nopt, labels, d.pad, 8)
}

// trainBatch is the training batch of examples idx. Index is per row, so
// only the option loss's batch (one gold row per example) carries it.
func (d *LMData) trainBatch(idx []int) (*batch.Batch, error) {
	b, err := d.batch(d.Train, idx, d.Option)
	if err == nil && d.Option {
		b.Index = append([]int(nil), idx...)
	}
	return b, err
}

// checkFamily refuses a model whose config.json model_type disagrees with
// model.family.
func checkFamily(r *recipe.Recipe, modelDir string) error {
	cfg, err := hf.ReadConfig(modelDir)
	if err != nil {
		return fmt.Errorf("model.path: %w", err)
	}
	isOPT := cfg.ModelType == "opt"
	if (r.Model.Family == recipe.FamilyOPT) != isOPT {
		want := "roberta"
		if isOPT {
			want = "opt"
		}
		return &recipe.FieldError{Path: "model.family", Msg: fmt.Sprintf("%s, but %s is a %q model (config.json model_type); set model.family: %s",
			r.Model.Family, r.Model.Path, cfg.ModelType, want)}
	}
	return nil
}

// buildOPT builds a large_models session: the tokenizer, the sampled and
// encoded splits, the OPT model (with its adapters), the candidate
// objective and the trainable list.
func (s *Session) buildOPT(modelDir string) error {
	r := s.Recipe
	lm := r.LargeModels
	task, err := largemodels.LookupTask(r.Task.Name)
	if err != nil {
		return fmt.Errorf("task.name: %w", err)
	}
	s.Metric = metrics.Task{Name: strings.ToLower(task.Name), Metrics: metrics.AccuracySet}
	if s.Tok, err = tokenizer.Load(modelDir); err != nil {
		return fmt.Errorf("model.path: tokenizer: %w", err)
	}
	bos, err := s.Tok.DecoderBOS(tokenizer.BOSConvention(lm.BOS))
	if err != nil {
		return fmt.Errorf("largemodels.bos: %w", err)
	}
	cfg, err := hf.ReadConfig(modelDir)
	if err != nil {
		return fmt.Errorf("model.path: %w", err)
	}
	d := &LMData{Task: task, Option: lm.Loss == recipe.LMLossOption, pad: cfg.PadTokenID}
	train, valid, err := readLargeModels(task, r.Task.DataDir, r.Eval.DoPredict)
	if err != nil {
		return err
	}
	// large_models' sample_train_sets: num_train+num_dev examples of a
	// permutation seeded with train_set_seed, the last num_dev the dev set;
	// the test set from the validation split's seed-0 permutation.
	n := lm.NumTrain + lm.NumDev
	if n > len(train) {
		return fmt.Errorf("largemodels.num_train: %d training and %d dev examples from a training split of %d", lm.NumTrain, lm.NumDev, len(train))
	}
	perm := nprand.New(uint32(lm.TrainSetSeed)).Permutation(len(train))[:n]
	encode := func(samples []largemodels.Sample, idx []int, what string) ([]largemodels.Encoded, error) {
		out := make([]largemodels.Encoded, 0, len(idx))
		for _, i := range idx {
			e, err := largemodels.EncodePrompt(s.Tok, task, nil, samples[i], lm.MaxLength, bos)
			if err != nil {
				return nil, fmt.Errorf("task.data_dir: %s example %d: %w", what, i, err)
			}
			for c, k := range e.OptionLen {
				if k < 1 || k >= len(e.Seqs[c]) {
					return nil, fmt.Errorf("task.data_dir: %s example %d: candidate %d has %d option tokens of %d (largemodels.max_length %d)", what, i, c, k, len(e.Seqs[c]), lm.MaxLength)
				}
			}
			out = append(out, e)
		}
		return out, nil
	}
	if d.Train, err = encode(train, perm[:lm.NumTrain], "train"); err != nil {
		return err
	}
	if lm.NumDev > 0 && (r.Eval.DoEval || r.Eval.DuringTraining) {
		if d.Dev, err = encode(train, perm[lm.NumTrain:], "train (dev)"); err != nil {
			return err
		}
	}
	if r.Eval.DoPredict {
		idx := nprand.New(0).Permutation(len(valid))
		if lm.NumEval > 0 && lm.NumEval < len(idx) {
			idx = idx[:lm.NumEval]
		}
		if d.Test, err = encode(valid, idx, "validation"); err != nil {
			return err
		}
	}
	classes := len(d.Train[0].Seqs)
	for _, sp := range [][]largemodels.Encoded{d.Train, d.Dev, d.Test} {
		for _, e := range sp {
			if len(e.Seqs) != classes {
				return fmt.Errorf("task.data_dir: %s examples have %d and %d candidates", task.Name, classes, len(e.Seqs))
			}
		}
	}
	s.LM = d

	dt, err := torch.ParseDType(string(r.Model.DType))
	if err != nil {
		return fmt.Errorf("model.dtype: %w", err)
	}
	opts := opt.Options{DType: dt, Device: s.Device, InitSeed: uint64(r.Optim.Seed)}
	var m *opt.Model
	if r.Model.InitState != "" {
		sd, err := hf.ReadSafetensors(r.Model.InitState)
		if err != nil {
			return fmt.Errorf("model.init_state: %w", err)
		}
		sd, s.adapterState = peft.SplitState(sd)
		if m, err = opt.FromStateDict(cfg, sd, r.Model.InitState, opts); err != nil {
			return fmt.Errorf("model.init_state: %w", err)
		}
	} else if m, err = opt.Load(modelDir, "", opts); err != nil {
		return fmt.Errorf("model.path: %w", err)
	}
	net := &OPTNet{Model: m, NumClasses: classes}
	s.Net = net
	if err := s.applyAdapters(m, m.Config.VocabSize); err != nil {
		return err
	}
	if net.Objective, err = objective.NewCandidateObjective(m, objective.CandidateOptions{Score: objective.Score(lm.Score),
		Loss: objective.CandidateLoss(lm.Loss)}); err != nil {
		return err
	}
	return s.trainableList()
}

// readLargeModels reads a task's training split and, when test is asked
// for, its validation split from dir: Hugging Face datasets' JSON lines
// (train.jsonl, validation.jsonl), or for SST2 and RTE GLUE's TSVs
// (train.tsv, dev.tsv).
func readLargeModels(t *largemodels.Task, dir string, test bool) (train, valid []largemodels.Sample, err error) {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	read := func(jsonl, tsv string) ([]largemodels.Sample, error) {
		p, reader := filepath.Join(dir, jsonl), largemodels.ReadJSONL
		glue := t.Name == "SST2" || t.Name == "RTE"
		if !exists(p) && glue && exists(filepath.Join(dir, tsv)) {
			p, reader = filepath.Join(dir, tsv), largemodels.ReadGLUETSV
		} else if !exists(p) && glue {
			return nil, fmt.Errorf("task.data_dir: %s has neither %s nor %s", dir, jsonl, tsv)
		} else if !exists(p) {
			return nil, fmt.Errorf("task.data_dir: %s has no %s", dir, jsonl)
		}
		out, err := reader(t, p)
		if err != nil {
			return nil, fmt.Errorf("task.data_dir: %w", err)
		}
		return out, nil
	}
	if train, err = read("train.jsonl", "train.tsv"); err != nil {
		return nil, nil, err
	}
	if test {
		if valid, err = read("validation.jsonl", "dev.tsv"); err != nil {
			return nil, nil, err
		}
	}
	return train, valid, nil
}

// evaluateCandidates evaluates split (dev or test) of a large_models
// session: eval.batch_size examples per pass, every candidate scored, the
// prediction the highest score; the loss is the classification loss.
func (s *Session) evaluateCandidates(split string, step int) (*EvalRecord, error) {
	encs := s.LM.split(split)
	if encs == nil {
		return nil, fmt.Errorf("train: no %s split loaded", split)
	}
	if err := s.evalSeed(); err != nil {
		return nil, err
	}
	rec := &EvalRecord{Step: step, Split: split, Classes: s.Net.Classes()}
	var err error
	rec.Logits, rec.Loss, err = s.evalPasses(len(encs), split, step, func(lo, hi int) (*batch.Batch, error) {
		idx := make([]int, 0, hi-lo)
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		return s.LM.batch(encs, idx, false)
	})
	if err != nil {
		return nil, err
	}
	for _, e := range encs {
		rec.Labels = append(rec.Labels, e.Correct)
	}
	if err := s.score(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// describeOPT is Describe for a large_models session.
func (s *Session) describeOPT() string {
	var b strings.Builder
	r := s.Recipe
	m := s.Net.(*OPTNet).Model
	all, trainable, _ := m.Params.Numel()
	fmt.Fprintf(&b, "model      %s (OPT, %d layers, hidden %d, %s), candidates scored by their %s option log-probability, on %v\n",
		r.Model.Path, m.Config.Layers, m.Config.Hidden, r.Model.DType, r.LargeModels.Score, s.Device)
	fmt.Fprintf(&b, "parameters %d trainable of %d, in %d tensors:\n", trainable, all, len(s.Names))
	for _, n := range s.Names {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	fmt.Fprintf(&b, "data       %s (%s): train %d, dev %d, test %d (train_set_seed %d), %d candidates per example, %s loss\n",
		s.LM.Task.Name, filepath.Clean(r.Task.DataDir), len(s.LM.Train), len(s.LM.Dev), len(s.LM.Test), r.LargeModels.TrainSetSeed,
		s.Net.Classes(), r.LargeModels.Loss)
	o := r.Optim
	per := (len(s.LM.Train) + o.BatchSize - 1) / o.BatchSize
	fmt.Fprintf(&b, "budget     %s: max_steps %d, max_zo_forward_steps %d, batch %d (%d batches per epoch), eval every %d\n",
		r.Method.Kind, o.MaxSteps, o.MaxZOForwardSteps, o.BatchSize, per, r.Eval.Steps)
	return b.String()
}
