package train

import (
	"errors"
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/model/opt"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/objective"
)

// Net is what the loop needs from a model and its objective, whatever the
// family: the losses of a batch (MeZO's inference forward, fine-tuning's
// training forward), an evaluation pass, the parameters, saving, freeing.
// The batch is the one host batch type; the objective behind a Net is the
// one place it becomes a loss.
type Net interface {
	// Loss is the loss of b with the parameters as they are: inference
	// mode, dropout off (a MeZO forward pass).
	Loss(b *batch.Batch) (float32, error)
	// Forward is fine-tuning's forward of b in s (grad mode records the
	// graph): dropout on when train, its masks drawn from gen.
	Forward(s *torch.Scope, b *batch.Batch, train bool, gen *torch.Generator) *torch.Tensor
	// Eval is one inference pass over b: Classes scores per example, row
	// major, and the batch's mean loss.
	Eval(b *batch.Batch) (scores []float32, loss float32, err error)
	// Classes is the number of scores per example.
	Classes() int
	// Params is the model's named, ordered parameter set.
	Params() *nn.ParamSet
	// Save writes the model's parameters (safetensors) with extra metadata.
	Save(path string, extra map[string]string) error
	Close() error
}

// RobertaNet is a RoBERTa model with its prompt, classifier or regression
// objective.
type RobertaNet struct {
	Model     *roberta.Model
	Objective *objective.Objective
}

// Loss implements Net.
func (n *RobertaNet) Loss(b *batch.Batch) (float32, error) { return n.Objective.Loss(b) }

// Forward implements Net.
func (n *RobertaNet) Forward(s *torch.Scope, b *batch.Batch, train bool, gen *torch.Generator) *torch.Tensor {
	fo := roberta.ForwardOptions{Train: train}
	if train {
		fo.DropoutGen = gen
	}
	loss, _ := n.Objective.Forward(s, b, fo)
	return loss
}

// Eval implements Net: the label logits.
func (n *RobertaNet) Eval(b *batch.Batch) ([]float32, float32, error) { return n.Objective.Eval(b) }

// Classes implements Net.
func (n *RobertaNet) Classes() int { return n.Objective.Classes() }

// Params implements Net.
func (n *RobertaNet) Params() *nn.ParamSet { return n.Model.Params }

// Save implements Net.
func (n *RobertaNet) Save(path string, extra map[string]string) error {
	return n.Model.Save(path, extra)
}

// Close frees the objective and the model.
func (n *RobertaNet) Close() error { return errors.Join(n.Objective.Close(), n.Model.Close()) }

// OPTNet is an OPT model with large_models' classification by candidates.
// Its batches are candidate batches (batch.Batch with OptionLen).
type OPTNet struct {
	Model     *opt.Model
	Objective *objective.CandidateObjective
	// NumClasses is the task's candidates per example.
	NumClasses int
}

// Loss implements Net.
func (n *OPTNet) Loss(b *batch.Batch) (float32, error) { return n.Objective.Loss(b) }

// Forward implements Net.
func (n *OPTNet) Forward(s *torch.Scope, b *batch.Batch, train bool, gen *torch.Generator) *torch.Tensor {
	fo := opt.ForwardOptions{Train: train}
	if train {
		fo.DropoutGen = gen
	}
	return n.Objective.Forward(s, b, fo)
}

// Eval implements Net: every candidate's score (mean or sum of its option
// log-probabilities), NumClasses per example, and the classification loss.
func (n *OPTNet) Eval(b *batch.Batch) ([]float32, float32, error) {
	for e, g := range b.Groups() {
		if g[1] != n.NumClasses {
			return nil, 0, fmt.Errorf("train: example %d of the batch has %d candidates, the task %d", e, g[1], n.NumClasses)
		}
	}
	_, scores, loss, err := n.Objective.Eval(b)
	return scores, loss, err
}

// Classes implements Net.
func (n *OPTNet) Classes() int { return n.NumClasses }

// Params implements Net.
func (n *OPTNet) Params() *nn.ParamSet { return n.Model.Params }

// Save implements Net.
func (n *OPTNet) Save(path string, extra map[string]string) error { return n.Model.Save(path, extra) }

// Close frees the model (the objective holds no tensors).
func (n *OPTNet) Close() error { return n.Model.Close() }

// ensureNet sets the session's Net from its RoBERTa model and objective
// when a caller built the Session by hand without one.
func (s *Session) ensureNet() error {
	if s.Net != nil {
		return nil
	}
	if s.Model == nil || s.Objective == nil {
		return errors.New("train: the session has no model (Net, or Model and Objective)")
	}
	s.Net = &RobertaNet{Model: s.Model, Objective: s.Objective}
	return nil
}
