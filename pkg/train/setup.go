package train

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/metrics"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/peft"
	"github.com/gomezo/gomezo/pkg/pretrain"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/tokenizer"
)

// Session is everything a run is made of, built from a recipe: the model,
// its tokenizer, the three data splits, the objective and the trainable
// parameters. Close frees the tensors.
type Session struct {
	Recipe *recipe.Recipe
	Device torch.Device
	Task   *lmbff.Task
	Metric metrics.Task
	Tok    *tokenizer.Tokenizer
	Enc    *lmbff.Encoder
	// LabelWords are the label words' vocabulary ids (prompt head).
	LabelWords []int64
	Model      *roberta.Model
	Objective  *objective.Objective
	// Train, Dev, Test are the splits (Test nil when the recipe does not
	// predict, Dev nil when it does not evaluate).
	Train, Dev, Test *lmbff.Dataset
	// Params are the trainable tensors in named_parameters() order (the z
	// stream's order); Names their names.
	Params *torch.ParamList
	Names  []string
	// global is torch's global generator of the running loop (nil outside).
	global *torch.Generator
	// LoRA and Prefix are the recipe's adapters (nil without); adapterState
	// the adapter tensors of model.init_state (peft.go).
	LoRA         *peft.LoRA
	Prefix       *peft.Prefix
	adapterState *hf.StateDict
	// Net is the model with its objective, what the loop trains and
	// evaluates whatever the family: a RobertaNet over Model and Objective,
	// or an OPTNet (model.family opt; Model and Objective are then nil, the
	// LM-BFF fields too, and LM holds the data).
	Net Net
	// LM is large_models' task and encoded splits (model.family opt).
	LM *LMData
}

// Close frees the session's tensors.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	if s.Net != nil {
		return errors.Join(s.Params.Close(), s.Net.Close())
	}
	return errors.Join(s.Params.Close(), s.Objective.Close(), s.Model.Close())
}

// NewSession checks the recipe against the machine, the files and itself,
// then builds the session. Everything that can be checked before a tensor is
// allocated is: the device, the data directory, the template and label
// words against the tokenizer, the label count against the task.
func NewSession(r *recipe.Recipe) (*Session, error) { return NewSessionNotes(r, nil) }

// NewSessionNotes is NewSession with a writer for the status lines of a
// long set-up step (model.pretrain's pre-training); nil is silent.
func NewSessionNotes(r *recipe.Recipe, notes io.Writer) (*Session, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := unsupported(r); err != nil {
		return nil, err
	}
	if err := r.CheckPaths(); err != nil {
		return nil, err
	}
	dev, err := torch.ParseDevice(r.Runtime.Device)
	if err != nil {
		return nil, fmt.Errorf("runtime.device: %w", err)
	}
	if err := torch.CheckDevice(dev); err != nil {
		return nil, fmt.Errorf("runtime.device: %w", err)
	}
	s := &Session{Recipe: r, Device: dev}
	modelDir, err := resolveModel(r, notes)
	if err != nil {
		return nil, err
	}
	if err := checkFamily(r, modelDir); err != nil {
		return nil, err
	}
	if r.Model.Family == recipe.FamilyOPT {
		if err := s.buildOPT(modelDir); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if s.Task, err = lmbff.LookupTask(r.Task.Name); err != nil {
		return nil, fmt.Errorf("task.name: %w", err)
	}
	if s.Metric, err = metrics.LookupTask(strings.ToLower(s.Task.Name)); err != nil {
		return nil, fmt.Errorf("task.name: %w", err)
	}
	if probes(r) && s.Metric.Regression {
		field := "method.kind"
		if r.Method.FromLinearHead {
			field = "method.from_linearhead"
		}
		return nil, fmt.Errorf("%s: linear probing of %s, a regression task, is not supported (the reference fits a least-squares head there)", field, s.Task.Name)
	}
	if s.Tok, err = tokenizer.Load(modelDir); err != nil {
		return nil, fmt.Errorf("model.path: tokenizer: %w", err)
	}
	cfg := lmbff.Config{Mode: r.Task.FewShotType, Template: r.Task.Template, Mapping: r.Task.Mapping,
		MaxLength: r.Task.MaxSeqLength, FirstSentLimit: r.Task.FirstSentLimit, OtherSentLimit: r.Task.OtherSentLimit,
		TruncateHead: r.Task.TruncateHead, DoubleDemo: r.Task.DoubleDemo, NumSample: r.Task.NumSample,
		NoAutoDemo: !r.Task.AutoDemo}
	if s.Enc, err = lmbff.NewEncoder(s.Tok, s.Task, cfg); err != nil {
		return nil, fmt.Errorf("task.template / task.mapping: %w", err)
	}
	prompt := r.Model.Head == recipe.HeadPrompt
	if prompt {
		ids, err := lmbff.LabelWordIDs(s.Tok, s.Task, r.Task.Mapping)
		if err != nil {
			return nil, fmt.Errorf("task.mapping: %w", err)
		}
		for _, id := range ids {
			s.LabelWords = append(s.LabelWords, int64(id))
		}
	}
	if err := s.loadData(); err != nil {
		return nil, err
	}
	if err := s.loadModel(modelDir); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveModel is the model directory of r: model.path's, or the one
// model.pretrain trains (or finds in its cache).
func resolveModel(r *recipe.Recipe, notes io.Writer) (string, error) {
	if p := r.Model.Pretrain; p.Preset != "" {
		return pretrain.Ensure(pretrain.Config{Preset: p.Preset, Steps: p.Steps, Seed: uint64(p.Seed), LR: p.LR,
			BatchSize: p.BatchSize, CacheDir: p.CacheDir}, notes)
	}
	dir, err := hf.ResolveModel(r.Model.Path)
	if err != nil {
		return "", fmt.Errorf("model.path: %w", err)
	}
	return dir, nil
}

// unsupported names the recipe fields this loop cannot run yet, all at
// once, rather than ignoring them.
func unsupported(r *recipe.Recipe) error {
	var errs []error
	m := r.Method
	if m.NormRunningUpdate {
		errs = append(errs, errNormRunningUpdate)
	}
	return errors.Join(errs...)
}

// loadData reads and encodes the splits. Dev and test features draw their
// demonstration contexts from numpy's stream seeded with the run seed, as
// the reference builds its datasets right after set_seed.
func (s *Session) loadData() error {
	r := s.Recipe
	load := func(split lmbff.Split) ([]lmbff.Example, error) {
		ex, err := s.Task.Load(r.Task.DataDir, split)
		if err != nil {
			return nil, fmt.Errorf("task.data_dir: %w", err)
		}
		return ex, nil
	}
	train, err := load(lmbff.SplitTrain)
	if err != nil {
		return err
	}
	if s.Train, err = lmbff.NewDataset(s.Enc, lmbff.SplitTrain, train, train, nil); err != nil {
		return fmt.Errorf("task.data_dir: %w", err)
	}
	rng := nprand.New(uint32(r.Optim.Seed))
	if r.Eval.DoEval || r.Eval.DuringTraining {
		dev, err := load(lmbff.SplitDev)
		if err != nil {
			return err
		}
		if s.Dev, err = lmbff.NewDataset(s.Enc, lmbff.SplitDev, train, dev, rng); err != nil {
			return fmt.Errorf("task.data_dir: %w", err)
		}
	}
	if r.Eval.DoPredict {
		test, err := load(lmbff.SplitTest)
		if err != nil {
			return err
		}
		if s.Test, err = lmbff.NewDataset(s.Enc, lmbff.SplitTest, train, test, rng); err != nil {
			return fmt.Errorf("task.data_dir: %w", err)
		}
	}
	return nil
}

// loadModel builds the model (from model.init_state when given, else from
// the checkpoint with the missing head weights initialised), the objective
// and the trainable list.
func (s *Session) loadModel(modelDir string) error {
	r := s.Recipe
	// A prompt model's missing pooler and classifier are drawn as the
	// reference draws them after set_seed(seed) (bit for bit on the CPU).
	opts := roberta.Options{Head: roberta.Prompt, NumLabels: s.Task.NumLabels(), Device: s.Device,
		InitSeed: uint64(r.Optim.Seed), ReferenceInit: true}
	kind := objective.Prompt
	if r.Model.Head == recipe.HeadClassification && probes(r) {
		// Linear probing in finetune mode: the reference's prompt model
		// class with no label words, whose logits are a bare Linear on <s>
		// (run.py with --from_linearhead; MEZO_SPEC §3.2), the layer the
		// probe is written into.
		kind = objective.Classifier
	} else if r.Model.Head == recipe.HeadClassification {
		opts.Head, kind = roberta.SeqCls, objective.Classifier
	} else if s.Metric.Regression {
		kind = objective.Regression
	}
	dt, err := torch.ParseDType(string(r.Model.DType))
	if err != nil {
		return fmt.Errorf("model.dtype: %w", err)
	}
	opts.DType = dt
	if r.Model.InitState != "" {
		cfg, err := hf.ReadConfig(modelDir)
		if err != nil {
			return fmt.Errorf("model.path: %w", err)
		}
		sd, err := hf.ReadSafetensors(r.Model.InitState)
		if err != nil {
			return fmt.Errorf("model.init_state: %w", err)
		}
		sd, s.adapterState = peft.SplitState(sd)
		if s.Model, err = roberta.FromStateDict(cfg, sd, r.Model.InitState, opts); err != nil {
			return fmt.Errorf("model.init_state: %w", err)
		}
	} else if s.Model, err = roberta.Load(modelDir, "", opts); err != nil {
		return fmt.Errorf("model.path: %w", err)
	}
	if err := s.applyAdapters(s.Model, s.Model.Config.VocabSize); err != nil {
		return err
	}
	if s.Objective, err = objective.New(s.Model, objective.Options{Kind: kind, LabelWords: s.LabelWords,
		NegAccuracy: r.Method.Loss == recipe.LossNegAcc, Lower: metrics.STSBLower, Upper: metrics.STSBUpper,
		Precision: precision(r.Runtime.Precision)}); err != nil {
		return err
	}
	s.Net = &RobertaNet{Model: s.Model, Objective: s.Objective}
	if opts.Head == roberta.Prompt && !r.Quirks().TrainUnusedHeads {
		// The prompt loss never reads the pooler or the classifier (the
		// bare classifier's never reads the pooler or the LM head): the
		// reference perturbs and decays them anyway (noise, and time).
		unused := `^classifier\.`
		if kind == objective.Classifier {
			unused = `^lm_head\.`
		}
		if _, err := s.Model.Params.Freeze(`^roberta\.pooler\.`, unused); err != nil {
			return err
		}
	}
	if r.Method.Kind == recipe.LP {
		// Linear probing changes only the head it writes.
		head := []string{`^lm_head\.decoder\.weight$`, `^lm_head\.bias$`}
		if kind == objective.Classifier {
			head = []string{`^classifier\.(weight|bias)$`}
		}
		if _, err := s.Model.Params.TrainOnly(head...); err != nil {
			return err
		}
	}
	return s.trainableList()
}

// trainableList collects the net's trainable tensors (the z stream's
// order) and their names.
func (s *Session) trainableList() error {
	ps := s.Net.Params()
	var err error
	if s.Params, err = ps.TrainableList(); err != nil {
		return err
	}
	if err := s.Params.SetZStream(zStream(s.Recipe.Runtime.ZStream)); err != nil {
		return err
	}
	for _, p := range ps.Trainable() {
		s.Names = append(s.Names, p.Name)
	}
	return nil
}

// Describe is what `mezo run --dry-run` prints about a session.
func (s *Session) Describe() string {
	if s.LM != nil {
		return s.describeOPT()
	}
	var b strings.Builder
	all, trainable, _ := s.Model.Params.Numel()
	head := string(s.Recipe.Model.Head)
	if s.Recipe.Model.Head == recipe.HeadClassification && s.Model.Opts.Head == roberta.Prompt {
		head = "bare linear classifier (the prompt model's, for linear probing)"
	}
	what := s.Recipe.Model.Path
	if p := s.Recipe.Model.Pretrain; p.Preset != "" {
		what = fmt.Sprintf("the %s RoBERTa pre-trained here (masked LM on generated text, %d steps; a demonstration model)", p.Preset, p.Steps)
	}
	fmt.Fprintf(&b, "model      %s (%d layers, hidden %d), %s head, on %v\n", what, s.Model.Config.Layers,
		s.Model.Config.Hidden, head, s.Device)
	fmt.Fprintf(&b, "parameters %d trainable of %d, in %d tensors:\n", trainable, all, len(s.Names))
	for _, n := range s.Names {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	size := func(d *lmbff.Dataset) string {
		if d == nil {
			return "-"
		}
		return fmt.Sprint(d.Len())
	}
	fmt.Fprintf(&b, "data       %s (%s): train %s, dev %s, test %s\n", s.Task.Name, filepath.Clean(s.Recipe.Task.DataDir),
		size(s.Train), size(s.Dev), size(s.Test))
	if len(s.LabelWords) > 0 {
		fmt.Fprintf(&b, "labels     %s → ids %v\n", s.Recipe.Task.Mapping, s.LabelWords)
	}
	if probes(s.Recipe) {
		where := fmt.Sprintf("rows %v of lm_head.decoder.weight and lm_head.bias (the label words'), from the LM head's decoder input at <mask>", s.LabelWords)
		if len(s.LabelWords) == 0 {
			where = "classifier.weight and classifier.bias (a bare Linear on <s>), from <s>'s last hidden state"
		}
		then := ""
		if s.Recipe.Method.FromLinearHead {
			then = ", then " + string(s.Recipe.Method.Kind) + " from there"
		}
		o := probeOptions(s.Recipe).WithDefaults()
		fmt.Fprintf(&b, "probe      logistic regression (%d-fold CV over %d Cs, max_iter %d, tol %g) on the %d training examples, written into %s%s\n",
			o.Folds, len(o.Cs), o.MaxIter, o.Tol, s.Train.Len(), where, then)
	}
	o := s.Recipe.Optim
	per := (s.Train.Len() + o.BatchSize - 1) / o.BatchSize
	acc := ""
	if o.GradientAccumulationSteps > 1 {
		acc = fmt.Sprintf(", %d micro-batches per update", o.GradientAccumulationSteps)
	}
	fmt.Fprintf(&b, "budget     %s: max_steps %d, max_zo_forward_steps %d, batch %d (%d batches per epoch%s), eval every %d\n",
		s.Recipe.Method.Kind, o.MaxSteps, o.MaxZOForwardSteps, o.BatchSize, per, acc, s.Recipe.Eval.Steps)
	return b.String()
}
