package roberta

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomezo/gomezo/cgo/torch"
)

// referenceHeadInit initialises the prompt model's head tensors that the
// checkpoint lacked (missing: names among roberta.pooler.dense.* and
// classifier.*) exactly as the reference does, bit for bit on the CPU:
// after set_seed(seed), from_pretrained constructs the model, and every
// nn.Linear and nn.Embedding constructor draws its default initialisation
// from torch's global generator (kaiming-uniform weights and uniform biases,
// normal embeddings), in module construction order; then Hugging Face's
// _init_weights redraws each module with missing weights, in named_modules
// order: weight ~ N(0, initializer_range), bias = 0.
func referenceHeadInit(m *Model, seed uint64, missing map[string]bool) error {
	gen, err := torch.NewGenerator(torch.CPU, seed)
	if err != nil {
		return err
	}
	defer gen.Close()
	cfg := m.Config
	H, V, I := int64(cfg.Hidden), int64(cfg.VocabSize), int64(cfg.Intermediate)
	// The constructors' draws, whose values are discarded: only how far
	// they advance the generator matters.
	draw := func(normal bool, shape ...int64) error {
		t, err := torch.Zeros(shape, torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		defer t.Close()
		if normal {
			return gen.FillNormal(t, 0, 1)
		}
		bound := 1 / math.Sqrt(float64(shape[len(shape)-1]))
		return gen.FillUniform(t, -bound, bound)
	}
	linear := func(out, in int64) error {
		// kaiming_uniform_(a=√5) on the weight, then the bias: both
		// uniform with bound 1/√fan_in.
		if err := draw(false, out, in); err != nil {
			return err
		}
		b, err := torch.Zeros([]int64{out}, torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		defer b.Close()
		bound := 1 / math.Sqrt(float64(in))
		return gen.FillUniform(b, -bound, bound)
	}
	steps := []func() error{
		func() error { return draw(true, V, H) },
		func() error { return draw(true, int64(cfg.MaxPositions), H) },
		func() error { return draw(true, int64(cfg.TypeVocab), H) },
		// MeZO's RobertaEmbeddings builds the position embeddings a second
		// time (with padding_idx) after its parent class built them: one
		// more draw of that size (found by locating the fixture's pooler
		// values in the seed-42 stream: 3,319,163 draws precede them, the
		// sum of these constructors with it).
		func() error { return draw(true, int64(cfg.MaxPositions), H) },
	}
	for l := 0; l < cfg.Layers; l++ {
		for _, sh := range [][2]int64{{H, H}, {H, H}, {H, H}, {H, H}, {I, H}, {H, I}} {
			sh := sh
			steps = append(steps, func() error { return linear(sh[0], sh[1]) })
		}
	}
	C := int64(m.Opts.NumLabels)
	steps = append(steps,
		func() error { return linear(H, H) }, // roberta.pooler.dense
		func() error { return linear(H, H) }, // lm_head.dense
		func() error { return linear(V, H) }, // lm_head.decoder (its own bias, later replaced)
		func() error { return linear(C, H) }, // classifier
	)
	for _, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("roberta: reference initialisation: %w", err)
		}
	}
	// _init_weights on the modules with missing weights.
	for _, mod := range []string{"roberta.pooler.dense", "classifier"} {
		if !missing[mod+".weight"] && !missing[mod+".bias"] {
			continue
		}
		w, b := m.Params.Get(mod+".weight"), m.Params.Get(mod+".bias")
		if w == nil || b == nil {
			return errors.New("roberta: reference initialisation: no " + mod)
		}
		tmp, err := torch.Zeros(mustShape(w.T), torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		if err := gen.FillNormal(tmp, 0, cfg.InitializerRange); err != nil {
			tmp.Close()
			return err
		}
		err = copyInto(w.T, tmp)
		tmp.Close()
		if err != nil {
			return fmt.Errorf("roberta: reference initialisation of %s: %w", mod, err)
		}
		zero, err := torch.Zeros(mustShape(b.T), torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		err = copyInto(b.T, zero)
		zero.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func mustShape(t *torch.Tensor) []int64 {
	s, _ := t.Shape()
	return s
}

// copyInto copies src's values into dst (converting dtype and device).
func copyInto(dst, src *torch.Tensor) error {
	a, err := torch.NewParamList([]*torch.Tensor{dst})
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := torch.NewParamList([]*torch.Tensor{src})
	if err != nil {
		return err
	}
	defer b.Close()
	return a.CopyFrom(b)
}
