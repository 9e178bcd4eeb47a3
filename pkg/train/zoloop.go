package train

import (
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/zo"
)

// NewMethod is the training method of the session's recipe, as the loop
// runs it: the plain efficient MeZO step, ZOTrainer for the trainer
// optimizer, stored z and the variants, or fine-tuning (dropout masks from
// global) over totalSteps.
func NewMethod(s *Session, global *torch.Generator, totalSteps int, teacher *Teacher) (Method, error) {
	if err := s.ensureNet(); err != nil {
		return nil, err
	}
	r := s.Recipe
	switch r.Method.Kind {
	case recipe.MeZO:
		if needsZOTrainer(r.Method) {
			return NewZOTrainer(s, totalSteps, teacher)
		}
		return &MeZO{Params: s.Params, Loss: s.Net.Loss, Teacher: teacher,
			Config: zo.Config{Eps: r.Method.Eps, LR: r.Optim.LR, WeightDecay: r.Optim.WeightDecay,
				SeparateRestore: r.Quirks().RestorePass}}, nil
	case recipe.FT:
		return NewFineTune(s, global, totalSteps)
	}
	return nil, fmt.Errorf("method.kind %q cannot train", r.Method.Kind)
}

// stepEnv is the loop's environment for a SampleStepper's step: seeds from
// the run's stream, torch's global generator, whether the batch starts an
// epoch, and with method.fresh_batch_per_sample a batch per sample: the
// first batch_size indices of numpy's permutation seeded with the sample's
// seed (no state of its own, so checkpoints need nothing more).
func (s *Session) stepEnv(global *torch.Generator, stream, demos *nprand.RandomState, epochStart bool) StepEnv {
	env := StepEnv{Global: global, EpochStart: epochStart,
		Seed: func() uint64 { return uint64(stream.Randint(1000000000)) }}
	if s.Recipe.Method.FreshBatchPerSample {
		env.Fresh = func(seed uint64) (*batch.Batch, error) {
			perm := nprand.New(uint32(seed)).Permutation(s.trainLen())
			return s.trainBatch(perm[:min(s.Recipe.Optim.BatchSize, len(perm))], demos)
		}
	}
	return env
}
