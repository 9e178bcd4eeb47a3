package objective

import (
	"errors"
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/model/opt"
)

// Classification by candidates, as MeZO's large_models does it for a
// decoder (OPT): every example is encoded once per candidate as
// prompt+option, and a candidate's score is the mean (MeZO's default) or
// the sum of log p(option token | everything before it) over its option
// tokens. The training losses are large_models' forward_wrap_with_option_len
// (utils.py): with --train_as_classification, cross-entropy over the
// candidates' mean option log-probabilities; otherwise (only_train_option)
// the token cross-entropy of the gold option. Both keep the last option_len
// targets of each row, so batches are left-padded (with right padding the
// reference's loss is NaN), and both drop targets equal to the pad id even
// inside content, as the reference does.

// Score selects how a candidate's option log-probabilities become its score.
type Score string

const (
	// ScoreMean is the mean over option tokens: large_models' default
	// (x['log_probs'].mean()), length-normalised.
	ScoreMean Score = "mean"
	// ScoreSum is the total log-probability of the option.
	ScoreSum Score = "sum"
)

// CandidateLoss selects the training loss of a candidate batch.
type CandidateLoss string

const (
	// LossClassification is --train_as_classification: mean CE over each
	// example's candidates, scored by their mean option log-probability.
	LossClassification CandidateLoss = "classification"
	// LossOption is --only_train_option: token CE(mean) over the option
	// tokens of the gold candidates (the batch holds gold rows only).
	LossOption CandidateLoss = "option"
)

// NewCandidates left-pads seqs (prompt+option token ids, each ending in its
// option) with pad to a length that is a multiple of multiple (≤ 1: the
// longest), as large_models' collator (padding_side left,
// pad_to_multiple_of 8) does, into a candidate batch (batch.Batch with
// OptionLen). numOptions groups consecutive rows into examples and labels
// holds each example's correct candidate; either may be nil.
func NewCandidates(seqs [][]int, optionLen []int, numOptions []int, labels []int64, pad, multiple int) (*batch.Batch, error) {
	if len(seqs) == 0 {
		return nil, errors.New("objective: no candidate sequences")
	}
	if len(optionLen) != len(seqs) {
		return nil, fmt.Errorf("objective: %d option lengths for %d sequences", len(optionLen), len(seqs))
	}
	L := 0
	for i, s := range seqs {
		if optionLen[i] < 1 || optionLen[i] >= len(s) {
			return nil, fmt.Errorf("objective: sequence %d has %d tokens and option length %d: an option needs at least one token and a prefix of at least one", i, len(s), optionLen[i])
		}
		L = max(L, len(s))
	}
	if multiple > 1 && L%multiple != 0 {
		L += multiple - L%multiple
	}
	c := &batch.Batch{Size: len(seqs), Len: L, OptionLen: append([]int(nil), optionLen...)}
	if numOptions != nil {
		c.NumOptions = append([]int(nil), numOptions...)
	}
	if labels != nil {
		c.Labels = append([]int64(nil), labels...)
	}
	for _, s := range seqs {
		for j := 0; j < L-len(s); j++ {
			c.InputIDs = append(c.InputIDs, int64(pad))
			c.AttentionMask = append(c.AttentionMask, 0)
		}
		for _, id := range s {
			c.InputIDs = append(c.InputIDs, int64(id))
			c.AttentionMask = append(c.AttentionMask, 1)
		}
	}
	return c, validateCandidates(c)
}

// validateCandidates checks that c is a well-formed candidate batch.
func validateCandidates(c *batch.Batch) error {
	if !c.Candidate() {
		return errors.New("objective: not a candidate batch (no option lengths)")
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("objective: %w", err)
	}
	return nil
}

// window is the part of a candidate batch the losses read: the last K
// positions' targets, K the longest option. keep marks MeZO's kept targets
// (within the row's option, not the pad id).
type window struct {
	K       int
	targets []int64   // [Size·K] the tokens predicted at the window's positions
	keep    []float32 // [Size·K] 1 for kept targets
	counts  []float32 // [Size] kept targets per row
}

func candidateWindow(c *batch.Batch, pad int) window {
	K := 0
	for _, k := range c.OptionLen {
		K = max(K, k)
	}
	w := window{K: K, targets: make([]int64, c.Size*K), keep: make([]float32, c.Size*K), counts: make([]float32, c.Size)}
	for i := 0; i < c.Size; i++ {
		for j := 0; j < K; j++ {
			tgt := c.InputIDs[i*c.Len+c.Len-K+j]
			w.targets[i*K+j] = tgt
			if j >= K-c.OptionLen[i] && tgt != int64(pad) {
				w.keep[i*K+j] = 1
				w.counts[i]++
			}
		}
	}
	return w
}

// CandidateOptions configure a CandidateObjective.
type CandidateOptions struct {
	Score Score         // "" means ScoreMean
	Loss  CandidateLoss // "" means LossClassification
}

// CandidateObjective scores and trains a decoder on candidate batches.
// Not safe for concurrent use.
type CandidateObjective struct {
	model *opt.Model
	opts  CandidateOptions
	dev   torch.Device
}

// NewCandidateObjective makes a candidate objective for m.
func NewCandidateObjective(m *opt.Model, o CandidateOptions) (*CandidateObjective, error) {
	if m == nil {
		return nil, errors.New("objective: nil model")
	}
	if o.Score == "" {
		o.Score = ScoreMean
	}
	if o.Loss == "" {
		o.Loss = LossClassification
	}
	if o.Score != ScoreMean && o.Score != ScoreSum {
		return nil, fmt.Errorf("objective: unknown candidate score %q (want %s or %s)", o.Score, ScoreMean, ScoreSum)
	}
	if o.Loss != LossClassification && o.Loss != LossOption {
		return nil, fmt.Errorf("objective: unknown candidate loss %q (want %s or %s)", o.Loss, LossClassification, LossOption)
	}
	return &CandidateObjective{model: m, opts: o, dev: m.Opts.Device}, nil
}

// Options returns the objective's options with defaults filled in.
func (o *CandidateObjective) Options() CandidateOptions { return o.opts }

// windowLogits runs the model on c and returns the LM logits [Size, K, V]
// at the K positions that predict the window's targets (the LM head runs
// on those positions only), in s.
func (o *CandidateObjective) windowLogits(s *torch.Scope, c *batch.Batch, w window, fo opt.ForwardOptions) *torch.Tensor {
	sh := []int64{int64(c.Size), int64(c.Len)}
	return s.Block(func(b *torch.Scope) *torch.Tensor {
		in := opt.Inputs{InputIDs: b.FromInt64s(c.InputIDs, sh, o.dev), AttentionMask: b.FromInt64s(c.AttentionMask, sh, o.dev)}
		dec := o.model.Decode(b, in, fo)
		if dec.Last == nil {
			return nil
		}
		h := b.Narrow(dec.Last, 1, int64(c.Len-1-w.K), int64(w.K))
		return o.model.LMHead(b, h)
	})
}

// CandidateLogProbs is the per-row log-probabilities of the window's
// targets, with MeZO's masks: tokens [Size, K] (0 where not kept; row i's
// option is its last OptionLen[i] columns), their sum [Size] and their mean
// [Size] over the kept targets. All belong to s.
type CandidateLogProbs struct {
	Tokens, Sum, Mean *torch.Tensor
	// K is the window width; Counts the kept targets per row.
	K      int
	Counts []float32
}

// LogProbs runs c through the model in s and returns its option
// log-probabilities.
func (o *CandidateObjective) LogProbs(s *torch.Scope, c *batch.Batch, fo opt.ForwardOptions) *CandidateLogProbs {
	if err := validateCandidates(c); err != nil {
		s.Fail(err)
		return &CandidateLogProbs{}
	}
	w := candidateWindow(c, o.model.Config.PadID)
	logits := o.windowLogits(s, c, w, fo)
	return o.logProbs(s, c, w, logits)
}

func (o *CandidateObjective) logProbs(s *torch.Scope, c *batch.Batch, w window, logits *torch.Tensor) *CandidateLogProbs {
	N, K, V := int64(c.Size), int64(w.K), int64(o.model.Config.VocabSize)
	dt := o.model.Opts.DType
	flat := make([]int64, len(w.targets))
	for i, tgt := range w.targets {
		flat[i] = int64(i)*V + tgt
	}
	out := &CandidateLogProbs{K: w.K, Counts: w.counts}
	out.Tokens = s.Block(func(b *torch.Scope) *torch.Tensor {
		lp := b.Reshape(b.LogSoftmax(logits, -1), N*K*V)
		picked := b.Reshape(b.IndexSelect(lp, 0, b.FromInt64s(flat, []int64{N * K}, o.dev)), N, K)
		keep := b.To(b.FromFloat32s(w.keep, []int64{N, K}, o.dev), dt, o.dev)
		return b.Mul(picked, keep)
	})
	out.Sum = s.SumDim(out.Tokens, 1)
	cnt := s.To(s.FromFloat32s(w.counts, []int64{N}, o.dev), dt, o.dev)
	out.Mean = s.Div(out.Sum, cnt)
	return out
}

// Scores returns each row's score [Size] (mean or sum per the options), in s.
func (o *CandidateObjective) Scores(s *torch.Scope, c *batch.Batch, fo opt.ForwardOptions) *torch.Tensor {
	lp := o.LogProbs(s, c, fo)
	if o.opts.Score == ScoreSum {
		return lp.Sum
	}
	return lp.Mean
}

// Forward returns the training loss of c (0-dim) under the objective's
// loss, in s (whose grad mode decides whether a graph is recorded).
func (o *CandidateObjective) Forward(s *torch.Scope, c *batch.Batch, fo opt.ForwardOptions) *torch.Tensor {
	if o.opts.Loss == LossOption {
		return o.OptionLoss(s, c, fo)
	}
	return o.ClassificationLoss(s, c, fo)
}

// ClassificationLoss is large_models' train_as_classification loss: each
// example's candidates' mean option log-probabilities are logits and the
// loss is CE(mean) against its label; with differing option counts, the
// mean of the per-example CEs.
func (o *CandidateObjective) ClassificationLoss(s *torch.Scope, c *batch.Batch, fo opt.ForwardOptions) *torch.Tensor {
	if c.Labels == nil {
		s.Failf("objective: the classification loss needs the examples' labels")
		return nil
	}
	return o.classificationLoss(s, c, o.LogProbs(s, c, fo))
}

func (o *CandidateObjective) classificationLoss(s *torch.Scope, c *batch.Batch, lp *CandidateLogProbs) *torch.Tensor {
	if lp.Mean == nil {
		return nil
	}
	groups := c.Groups()
	n := groups[0][1]
	same := true
	for _, g := range groups {
		same = same && g[1] == n
	}
	labels := c.Labels
	if same {
		lt := s.FromInt64s(labels, []int64{int64(len(labels))}, o.dev)
		return s.CrossEntropy(s.Reshape(lp.Mean, int64(len(groups)), int64(n)), lt)
	}
	var total *torch.Tensor
	for e, g := range groups {
		lg := s.Reshape(s.Narrow(lp.Mean, 0, int64(g[0]), int64(g[1])), 1, int64(g[1]))
		ce := s.CrossEntropy(lg, s.FromInt64s(labels[e:e+1], []int64{1}, o.dev))
		if total == nil {
			total = ce
		} else {
			total = s.Add(total, ce)
		}
	}
	return s.DivScalar(total, float64(len(groups)))
}

// OptionLoss is large_models' only_train_option loss on gold rows: token
// CE(mean) over every kept option target of the batch.
func (o *CandidateObjective) OptionLoss(s *torch.Scope, c *batch.Batch, fo opt.ForwardOptions) *torch.Tensor {
	if err := validateCandidates(c); err != nil {
		s.Fail(err)
		return nil
	}
	w := candidateWindow(c, o.model.Config.PadID)
	logits := o.windowLogits(s, c, w, fo)
	if logits == nil {
		return nil
	}
	labels := make([]int64, len(w.targets))
	for i, t := range w.targets {
		labels[i] = t
		if w.keep[i] == 0 {
			labels[i] = -100
		}
	}
	N, K, V := int64(c.Size), int64(w.K), int64(o.model.Config.VocabSize)
	return s.CrossEntropy(s.Reshape(logits, N*K, V), s.FromInt64s(labels, []int64{N * K}, o.dev))
}

// Loss is the loss of c with the parameters as they are, in inference mode
// with dropout off: a MeZO forward pass, as float32.
func (o *CandidateObjective) Loss(c *batch.Batch) (float32, error) {
	s := torch.NewScope(torch.Inference)
	defer s.Close()
	l := o.Forward(s, c, opt.ForwardOptions{})
	if err := s.Err(); err != nil {
		return 0, err
	}
	v, err := l.Item()
	return float32(v), err
}

// Eval runs c once in inference mode and returns each example's
// predicted candidate (the highest score, the first on ties as numpy's
// argmax), every row's score, and the classification loss when c has
// labels (0 otherwise).
func (o *CandidateObjective) Eval(c *batch.Batch) (pred []int, scores []float32, loss float32, err error) {
	s := torch.NewScope(torch.Inference)
	defer s.Close()
	lp := o.LogProbs(s, c, opt.ForwardOptions{})
	sc := lp.Mean
	if o.opts.Score == ScoreSum {
		sc = lp.Sum
	}
	var l *torch.Tensor
	if c.Labels != nil {
		l = o.classificationLoss(s, c, lp)
	}
	if err := s.Err(); err != nil {
		return nil, nil, 0, err
	}
	if scores, err = s.To(sc, torch.Float32, torch.CPU).Float32s(); err != nil {
		return nil, nil, 0, err
	}
	if l != nil {
		v, err := l.Item()
		if err != nil {
			return nil, nil, 0, err
		}
		loss = float32(v)
	}
	if err := s.Err(); err != nil {
		return nil, nil, 0, err
	}
	for _, g := range c.Groups() {
		best := 0
		for k := 1; k < g[1]; k++ {
			if scores[g[0]+k] > scores[g[0]+best] {
				best = k
			}
		}
		pred = append(pred, best)
	}
	return pred, scores, loss, nil
}

// Predict is Eval without the loss.
func (o *CandidateObjective) Predict(c *batch.Batch) (pred []int, scores []float32, err error) {
	pred, scores, _, err = o.Eval(c)
	return pred, scores, err
}
