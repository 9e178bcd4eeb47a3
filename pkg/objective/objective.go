// Package objective is the one place a batch becomes a loss and logits
// (ARCHITECTURE.md, decision 9): MeZO's prompt cross-entropy over the label
// words at <mask>, the classification head's cross-entropy on <s>, and
// −accuracy (the non-differentiable objective of the ablations). It owns
// the label-word tensor and the device copy of each batch.
//
// An Objective is not safe for concurrent use; its tensors live on the
// model's device and are freed by Close.
package objective

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/model/roberta"
)

// Kind selects the head and loss.
type Kind string

const (
	// Prompt is the prompt model's loss (MEZO_SPEC §3.1): the LM head at
	// each row's <mask>, restricted to the label words, then mean CE.
	Prompt Kind = "prompt"
	// Classifier is mean CE over the classification head on <s>: the
	// sequence-classification head in finetune mode, the bare classifier
	// of the prompt model for linear-probing starts.
	Classifier Kind = "classifier"
	// Regression is the prompt model's STS-B loss as the reference computes
	// it (LM-BFF's models.py, num_labels = 1): the two label-word logits at
	// <mask> become log-probabilities p, the target y ∈ [lb, ub] becomes
	// t = (1 − (y−lb)/(ub−lb), (y−lb)/(ub−lb)), and the loss is
	// KLDivLoss(log_target=True) with its default mean reduction,
	// mean(exp(t)·(t − p)) over all 2B entries — t is a probability, not a
	// log-probability, which is the reference's (we keep it). The logits
	// returned are p, as the reference returns.
	Regression Kind = "regression"
)

// Options configure an Objective.
type Options struct {
	Kind Kind
	// LabelWords are the vocabulary ids of the label words, one per class
	// in the processor's label order (Prompt only).
	LabelWords []int64
	// NegAccuracy makes the loss −mean(argmax(logits) = label), the
	// reference's --optimize_acc; logits are unchanged.
	NegAccuracy bool
	// Lower and Upper bound the regression targets (STS-B: 0 and 5).
	Lower, Upper float64
	// Precision, when BFloat16 or Float16, runs the forward under CUDA
	// autocast in that dtype on the model's fp32 weights (0 or Float32:
	// fp32). The loss and the logits come out in fp32. CUDA only.
	Precision torch.DType
}

// Objective turns host batches into a loss and logits on a model.
type Objective struct {
	model *roberta.Model
	opts  Options
	dev   torch.Device
	words *torch.Tensor // int64 [C] on dev (Prompt)
}

// New makes an objective for m.
func New(m *roberta.Model, o Options) (*Objective, error) {
	if m == nil {
		return nil, errors.New("objective: nil model")
	}
	ob := &Objective{model: m, opts: o, dev: m.Opts.Device}
	switch o.Precision {
	case 0, torch.Float32:
		ob.opts.Precision = 0
	case torch.BFloat16, torch.Float16:
		if !ob.dev.CUDA {
			return nil, fmt.Errorf("objective: precision %s needs a CUDA device: it runs the forward under CUDA autocast, and libtorch 1.13's CPU build has no half-precision kernels for these ops (use fp32 on the CPU)", o.Precision)
		}
		if dt := m.Opts.DType; dt != 0 && dt != torch.Float32 {
			return nil, fmt.Errorf("objective: precision %s computes from fp32 master weights; the model's parameters are %s", o.Precision, dt)
		}
	default:
		return nil, fmt.Errorf("objective: precision %s: want float32, bfloat16 or float16", o.Precision)
	}
	switch o.Kind {
	case Prompt, Regression:
		if o.Kind == Regression && (len(o.LabelWords) != 2 || !(o.Upper > o.Lower)) {
			return nil, fmt.Errorf("objective: regression needs two label words and bounds lower < upper (got %d words, [%v, %v])", len(o.LabelWords), o.Lower, o.Upper)
		}
		if len(o.LabelWords) == 0 {
			return nil, errors.New("objective: the prompt objective needs label words")
		}
		for i, w := range o.LabelWords {
			if w < 0 || w >= int64(m.Config.VocabSize) {
				return nil, fmt.Errorf("objective: label word %d has id %d, outside the vocabulary of %d", i, w, m.Config.VocabSize)
			}
		}
		words, err := torch.FromInt64s(o.LabelWords, []int64{int64(len(o.LabelWords))}, ob.dev)
		if err != nil {
			return nil, err
		}
		ob.words = words
	case Classifier:
	default:
		return nil, fmt.Errorf("objective: unknown kind %q (want %s or %s)", o.Kind, Prompt, Classifier)
	}
	return ob, nil
}

// Close frees the objective's tensors (not the model).
func (o *Objective) Close() error {
	if o == nil {
		return nil
	}
	err := o.words.Close()
	o.words = nil
	return err
}

// Classes is the number of logits per row.
func (o *Objective) Classes() int {
	if o.opts.Kind != Classifier {
		return len(o.opts.LabelWords)
	}
	return o.model.Opts.NumLabels
}

// Device holds a batch copied to the model's device; its tensors belong to
// the scope that made them.
type Device struct {
	InputIDs, AttentionMask *torch.Tensor // int64 [B, L]
	MaskPos                 *torch.Tensor // int64 [B], nil without <mask>
	Labels                  *torch.Tensor // int64 [B], nil when absent
	Targets                 *torch.Tensor // float32 [B], regression targets, nil when absent
}

// ToDevice copies b to dev as tensors owned by s.
func ToDevice(s *torch.Scope, b *batch.Batch, dev torch.Device) Device {
	if err := b.Validate(); err != nil {
		s.Fail(err)
		return Device{}
	}
	sh := []int64{int64(b.Size), int64(b.Len)}
	d := Device{InputIDs: s.FromInt64s(b.InputIDs, sh, dev), AttentionMask: s.FromInt64s(b.AttentionMask, sh, dev)}
	if b.MaskPos != nil {
		d.MaskPos = s.FromInt64s(b.MaskPos, []int64{int64(b.Size)}, dev)
	}
	if b.Labels != nil {
		d.Labels = s.FromInt64s(b.Labels, []int64{int64(b.Size)}, dev)
	}
	if b.Targets != nil {
		d.Targets = s.FromFloat32s(b.Targets, []int64{int64(b.Size)}, dev)
	}
	return d
}

// Forward runs the model on b in s (whose grad mode decides whether a graph
// is recorded): the loss (0-dim; nil when b has no labels) and the logits
// [B, C]. Both belong to s.
func (o *Objective) Forward(s *torch.Scope, b *batch.Batch, fo roberta.ForwardOptions) (loss, logits *torch.Tensor) {
	if o.opts.Precision != 0 {
		prev := s.Autocast()
		if err := s.SetAutocast(o.opts.Precision); err != nil {
			s.Fail(err)
			return nil, nil
		}
		defer s.SetAutocast(prev)
		loss, logits = o.forward(s, b, fo)
		if logits != nil {
			logits = s.To(logits, torch.Float32, o.dev)
		}
		if loss != nil {
			loss = s.To(loss, torch.Float32, o.dev)
		}
		return loss, logits
	}
	return o.forward(s, b, fo)
}

func (o *Objective) forward(s *torch.Scope, b *batch.Batch, fo roberta.ForwardOptions) (loss, logits *torch.Tensor) {
	d := ToDevice(s, b, o.dev)
	enc := o.model.Encode(s, roberta.Inputs{InputIDs: d.InputIDs, AttentionMask: d.AttentionMask}, fo)
	switch o.opts.Kind {
	case Regression:
		if d.MaskPos == nil {
			s.Failf("objective: the regression objective needs a <mask> position in every row")
			return nil, nil
		}
		logp := s.LogSoftmax(o.model.PromptLogits(s, enc.Last, d.MaskPos, o.words), -1)
		if b.Targets == nil {
			return nil, logp
		}
		t, et := o.regressionTargets(b.Targets)
		tt := s.FromFloat32s(t, []int64{int64(b.Size), 2}, o.dev)
		ett := s.FromFloat32s(et, []int64{int64(b.Size), 2}, o.dev)
		return s.Mean(s.Mul(ett, s.Sub(tt, logp))), logp
	case Prompt:
		if d.MaskPos == nil {
			s.Failf("objective: the prompt objective needs a <mask> position in every row")
			return nil, nil
		}
		logits = o.model.PromptLogits(s, enc.Last, d.MaskPos, o.words)
	case Classifier:
		logits = o.model.ClassifierLogits(s, enc.Last, fo)
	}
	if d.Labels == nil {
		return nil, logits
	}
	if o.opts.NegAccuracy {
		hit := s.To(s.Eq(s.Argmax(logits, -1), d.Labels), torch.Float32, o.dev)
		return s.MulScalar(s.Mean(hit), -1), logits
	}
	return s.CrossEntropy(logits, d.Labels), logits
}

// regressionTargets maps targets y to the reference's two-way target
// t = (1 − (y−lb)/(ub−lb), (y−lb)/(ub−lb)) [B, 2] in float32 arithmetic, and
// exp(t) (KLDivLoss's log_target weights; computed here, rounded to float32).
func (o *Objective) regressionTargets(y []float32) (t, et []float32) {
	lb, ub := float32(o.opts.Lower), float32(o.opts.Upper)
	for _, v := range y {
		p := (v - lb) / (ub - lb)
		t = append(t, 1-p, p)
	}
	for _, v := range t {
		et = append(et, float32(math.Exp(float64(v))))
	}
	return t, et
}

// Loss is the loss of b with the parameters as they are, in inference mode
// with dropout off: a MeZO forward pass. It is float32, as the reference's
// 0-dim loss tensor is.
func (o *Objective) Loss(b *batch.Batch) (float32, error) {
	s := torch.NewScope(torch.Inference)
	defer s.Close()
	loss, _ := o.Forward(s, b, roberta.ForwardOptions{})
	if err := s.Err(); err != nil {
		return 0, err
	}
	if loss == nil {
		return 0, errors.New("objective: the batch has no labels")
	}
	v, err := loss.Item()
	return float32(v), err
}

// Eval runs b in inference mode and returns its logits (B×C, row-major)
// and mean loss (0 when b has no labels).
func (o *Objective) Eval(b *batch.Batch) (logits []float32, loss float32, err error) {
	s := torch.NewScope(torch.Inference)
	defer s.Close()
	l, lg := o.Forward(s, b, roberta.ForwardOptions{})
	if err := s.Err(); err != nil {
		return nil, 0, err
	}
	if logits, err = s.To(lg, torch.Float32, torch.CPU).Float32s(); err != nil {
		return nil, 0, err
	}
	if l != nil {
		v, err := l.Item()
		if err != nil {
			return nil, 0, err
		}
		loss = float32(v)
	}
	return logits, loss, s.Err()
}

// Features runs b in inference mode (dropout off) and returns the input of
// the layer that makes the logits, one row of d values per example
// (row-major [B·d]), as the reference's linear probing captures it with a
// forward hook: for Prompt the LM head's decoder input at <mask>,
// LayerNorm(GELU(dense(h_mask))); for Classifier the bare classifier's
// input, <s>'s last hidden state. Other kinds have no such features. The
// pass's tensors are freed before it returns.
func (o *Objective) Features(b *batch.Batch) (feat []float32, d int, err error) {
	if o.opts.Kind != Prompt && o.opts.Kind != Classifier {
		return nil, 0, fmt.Errorf("objective: %s has no linear-probing features (prompt or classifier only)", o.opts.Kind)
	}
	s := torch.NewScope(torch.Inference)
	defer s.Close()
	dv := ToDevice(s, b, o.dev)
	enc := o.model.Encode(s, roberta.Inputs{InputIDs: dv.InputIDs, AttentionMask: dv.AttentionMask}, roberta.ForwardOptions{})
	var x *torch.Tensor
	if o.opts.Kind == Prompt {
		if dv.MaskPos == nil && s.Err() == nil {
			return nil, 0, errors.New("objective: prompt features need a <mask> position in every row")
		}
		x = o.model.PromptFeatures(s, enc.Last, dv.MaskPos)
	} else {
		x = o.model.ClassifierFeatures(s, enc.Last)
	}
	x = s.To(x, torch.Float32, torch.CPU)
	if err := s.Err(); err != nil {
		return nil, 0, err
	}
	if feat, err = x.Float32s(); err != nil {
		return nil, 0, err
	}
	return feat, o.model.Config.Hidden, nil
}

// WriteHead writes a linear head, W [C][d] and b [C] with C = Classes(),
// into the layer Features feeds: the label words' decoder rows and biases
// (Prompt) or the whole bare classifier (Classifier); see
// roberta.Model.WriteLinearHead.
func (o *Objective) WriteHead(W [][]float64, b []float64) error {
	if len(W) != o.Classes() {
		return fmt.Errorf("objective: linear head with %d rows for %d classes", len(W), o.Classes())
	}
	switch o.opts.Kind {
	case Prompt:
		return o.model.WriteLinearHead(o.opts.LabelWords, W, b)
	case Classifier:
		return o.model.WriteLinearHead(nil, W, b)
	}
	return fmt.Errorf("objective: %s has no linear head to write (prompt or classifier only)", o.opts.Kind)
}
