package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"syscall"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
	"github.com/gomezo/gomezo/pkg/nprand"
)

// CheckpointFile is the checkpoint in a run directory.
const CheckpointFile = "checkpoint.safetensors"

// Checkpoint is everything a run needs to continue exactly where it was,
// at a step boundary: the counters, the position in the epoch's order, every
// random stream, the best-so-far model and objective, the trainable
// parameters, the optimizer state, and how far metrics.jsonl had got.
type Checkpoint struct {
	Step     int   `json:"step"`     // updates done
	Forwards int   `json:"forwards"` // MeZO forward passes counted
	Epoch    int   `json:"epoch"`    // epoch of the next batch
	Batch    int   `json:"batch"`    // index of the next batch in Order
	Order    []int `json:"order"`    // the epoch's example order

	Global, Sampler []byte        // torch generator states
	Stream          nprand.State  `json:"stream"` // the step-seed stream
	Demos           *nprand.State `json:"demos,omitempty"`

	BestStep      int     `json:"best_step"`
	BestObjective float64 `json:"best_objective"`
	FTLossSum     float64 `json:"ft_loss_sum"`
	FTLossN       int     `json:"ft_loss_n"`
	// VariantC is d_c per group of a ZO-variant run (float32 values, exact
	// in JSON), so a resumed run does not recompute it where the
	// uninterrupted one would not; nil for other runs.
	VariantC []float32 `json:"variant_c,omitempty"`
	// MetricsOffset is the length of metrics.jsonl when the checkpoint was
	// taken (set by the writer).
	MetricsOffset int64 `json:"metrics_offset"`

	Params     *torch.ParamList      `json:"-"` // trainable tensors, in order
	BestParams *torch.ParamList      `json:"-"` // nil before the first evaluation
	Opt        *torch.OptimizerState `json:"-"` // fine-tuning only
	owned      []interface{ Close() error }
}

// capture copies the method's and streams' state into c.
func (c *Checkpoint) capture(m Method, global, sampler *torch.Generator, stream, demos *nprand.RandomState, separateDemos bool) error {
	var err error
	if c.Global, err = global.State(); err != nil {
		return err
	}
	if c.Sampler, err = sampler.State(); err != nil {
		return err
	}
	c.Stream = stream.State()
	if separateDemos {
		d := demos.State()
		c.Demos = &d
	}
	if ft, ok := m.(optimizerHolder); ok && ft.optimizer() != nil {
		if c.Opt, err = ft.optimizer().State(); err != nil {
			return err
		}
		c.owned = append(c.owned, c.Opt)
	}
	if zt, ok := m.(*ZOTrainer); ok && zt.Variant != nil && zt.Variant.C != nil {
		c.VariantC = append([]float32(nil), zt.Variant.C...)
	}
	if math.IsInf(c.BestObjective, -1) {
		c.BestObjective = 0
	}
	return nil
}

// release frees what capture made.
func (c *Checkpoint) release() {
	for _, o := range c.owned {
		o.Close()
	}
	c.owned = nil
}

// restore puts the checkpoint's state into the session and streams.
func (c *Checkpoint) restore(s *Session, m Method, global, sampler *torch.Generator, stream, demos *nprand.RandomState, separateDemos bool) error {
	if err := global.SetState(c.Global); err != nil {
		return fmt.Errorf("checkpoint: global generator: %w", err)
	}
	if err := sampler.SetState(c.Sampler); err != nil {
		return fmt.Errorf("checkpoint: sampler generator: %w", err)
	}
	if err := stream.SetState(c.Stream); err != nil {
		return fmt.Errorf("checkpoint: seed stream: %w", err)
	}
	if separateDemos {
		if c.Demos == nil {
			return errors.New("checkpoint: no demonstration stream state")
		}
		if err := demos.SetState(*c.Demos); err != nil {
			return err
		}
	}
	if err := s.Params.CopyFrom(c.Params); err != nil {
		return fmt.Errorf("checkpoint: parameters: %w", err)
	}
	if ft, ok := m.(optimizerHolder); ok && ft.optimizer() != nil {
		if c.Opt == nil {
			return errors.New("checkpoint: a fine-tuning checkpoint without optimizer state")
		}
		if err := ft.optimizer().SetState(c.Opt); err != nil {
			return fmt.Errorf("checkpoint: optimizer: %w", err)
		}
	}
	if zt, ok := m.(*ZOTrainer); ok {
		zt.next = c.Step
		if v := zt.Variant; v != nil && c.Step > 0 {
			if c.VariantC == nil {
				return errors.New("checkpoint: a ZO-variant run's checkpoint without its d_c (variant_c)")
			}
			if len(c.VariantC) != len(v.Keys) {
				return fmt.Errorf("checkpoint: d_c for %d groups, the model has %d", len(c.VariantC), len(v.Keys))
			}
			v.C = append([]float32(nil), c.VariantC...)
		}
	}
	return nil
}

// Close frees a loaded checkpoint's tensors.
func (c *Checkpoint) Close() error {
	if c == nil {
		return nil
	}
	c.release()
	return errors.Join(c.Params.Close(), c.BestParams.Close(), c.Opt.Close())
}

const metaKey = "gomezo_checkpoint"

// WriteCheckpoint writes c to path atomically (temporary file, fsync,
// rename): the previous checkpoint stays until the new one is complete.
// names are the trainable tensors' names.
func WriteCheckpoint(path string, c *Checkpoint, names []string) error {
	sd := hf.NewStateDict()
	add := func(prefix string, pl *torch.ParamList) error {
		if pl == nil {
			return nil
		}
		if pl.Len() != len(names) {
			return fmt.Errorf("checkpoint: %d %s tensors for %d names", pl.Len(), prefix, len(names))
		}
		for i, n := range names {
			t, err := pl.Tensor(i)
			if err != nil {
				return err
			}
			h, err := nn.ToHF(t)
			t.Close()
			if err != nil {
				return err
			}
			sd.Names = append(sd.Names, prefix+n)
			sd.Tensors[prefix+n] = h
		}
		return nil
	}
	if err := add("param/", c.Params); err != nil {
		return err
	}
	if err := add("best/", c.BestParams); err != nil {
		return err
	}
	if c.Opt != nil {
		if err := add("exp_avg/", c.Opt.ExpAvg); err != nil {
			return err
		}
		if err := add("exp_avg_sq/", c.Opt.ExpAvgSq); err != nil {
			return err
		}
	}
	meta := struct {
		*Checkpoint
		OptSteps []int64 `json:"opt_steps,omitempty"`
		HasBest  bool    `json:"has_best"`
	}{Checkpoint: c, HasBest: c.BestParams != nil}
	if c.Opt != nil {
		meta.OptSteps = c.Opt.Steps
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	infos := make([]hf.NamedInfo, len(sd.Names))
	for i, n := range sd.Names {
		infos[i] = hf.NamedInfo{Name: n, TensorInfo: hf.TensorInfo{DType: sd.Tensors[n].DType, Shape: sd.Tensors[n].Shape}}
	}
	written := 0
	return hf.WriteSafetensorsFunc(path, infos, map[string]string{"format": "pt", metaKey: string(js)}, func(name string, w io.Writer) error {
		if written++; written == 2 && c.Step == testKillInCheckpoint {
			// Test only (MEZO_TEST_KILL_IN_CHECKPOINT): die as a SIGKILL
			// during the write would, the temporary file half written.
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		_, err := w.Write(sd.Tensors[name].Data)
		return err
	})
}

// testKillInCheckpoint is a test hook: the process kills itself with
// SIGKILL in the middle of writing the checkpoint of this step, as a kill
// during the write would (MEZO_TEST_KILL_IN_CHECKPOINT=STEP in the
// environment; 0, never, otherwise). The resume tests use it to check that
// the previous checkpoint survives.
var testKillInCheckpoint, _ = strconv.Atoi(os.Getenv("MEZO_TEST_KILL_IN_CHECKPOINT"))

// ReadCheckpoint reads a checkpoint WriteCheckpoint wrote, with tensors on
// dev; a damaged or foreign file is an error naming it.
func ReadCheckpoint(path string, names []string, dev torch.Device, dtype torch.DType) (*Checkpoint, error) {
	sf, err := hf.OpenSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer sf.Close()
	raw, ok := sf.Metadata()[metaKey]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: not a gomezo checkpoint (no %s metadata)", path, metaKey)
	}
	var meta struct {
		Checkpoint
		OptSteps []int64 `json:"opt_steps"`
		HasBest  bool    `json:"has_best"`
	}
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, fmt.Errorf("checkpoint %s: metadata: %w", path, err)
	}
	c := &meta.Checkpoint
	list := func(prefix string) (*torch.ParamList, error) {
		ts := make([]*torch.Tensor, len(names))
		defer func() {
			for _, t := range ts {
				t.Close()
			}
		}()
		for i, n := range names {
			h, err := sf.Read(prefix + n)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %s: %s: %w", path, prefix+n, err)
			}
			if ts[i], err = nn.FromHF(h, dtype, dev); err != nil {
				return nil, err
			}
		}
		return torch.NewParamList(ts)
	}
	fail := func(err error) (*Checkpoint, error) {
		c.Close()
		return nil, err
	}
	if c.Params, err = list("param/"); err != nil {
		return fail(err)
	}
	if meta.HasBest {
		if c.BestParams, err = list("best/"); err != nil {
			return fail(err)
		}
	} else {
		c.BestObjective = math.Inf(-1)
	}
	if meta.OptSteps != nil {
		c.Opt = &torch.OptimizerState{Steps: meta.OptSteps}
		if c.Opt.ExpAvg, err = list("exp_avg/"); err != nil {
			return fail(err)
		}
		if c.Opt.ExpAvgSq, err = list("exp_avg_sq/"); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// optimizerHolder is a method with optimizer state (fine-tuning, the
// trainer-optimizer ZO path).
type optimizerHolder interface{ optimizer() *torch.Optimizer }
