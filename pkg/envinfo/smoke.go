package envinfo

import (
	"fmt"
	"io"
	"time"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/objective"
)

// SmokeOptions size the self-built model and batch of Smoke.
type SmokeOptions struct {
	Device              torch.Device
	DType               torch.DType
	Hidden, Layers      int
	Heads, Vocab        int
	Batch, Length, Reps int
	Seed                uint64
}

// DefaultSmoke is a RoBERTa small enough for any laptop: 6M parameters.
func DefaultSmoke() SmokeOptions {
	return SmokeOptions{Device: torch.CPU, DType: torch.Float32, Hidden: 128, Layers: 4, Heads: 4,
		Vocab: 20000, Batch: 8, Length: 64, Reps: 5, Seed: 1}
}

// SmokeReport is what Smoke measured.
type SmokeReport struct {
	Params            int64
	Loss              float64
	ForwardSeconds    float64 // median of Reps forward passes
	PerturbSeconds    float64 // median of Reps perturbation passes
	RestoreMaxAbsDiff float64 // max |θ − θ₀| after +ε, −2ε, +ε
}

// Smoke builds a random prompt-head RoBERTa itself (no files needed), runs a
// forward pass and the prompt loss on a synthetic batch, times forward and
// perturbation passes, and checks that +ε, −2ε, +ε returns the parameters
// to within float rounding. It writes a short report to w.
func Smoke(w io.Writer, o SmokeOptions) (*SmokeReport, error) {
	if o.Reps < 1 || o.Batch < 1 || o.Length < 4 {
		return nil, fmt.Errorf("smoke: need reps ≥ 1, batch ≥ 1 and length ≥ 4")
	}
	cfg := &hf.Config{ModelType: "roberta", VocabSize: o.Vocab, HiddenSize: o.Hidden, NumHiddenLayers: o.Layers,
		NumAttentionHeads: o.Heads, IntermediateSize: 4 * o.Hidden, MaxPositionEmbeddings: o.Length + 2,
		TypeVocabSize: 1, PadTokenID: 1, LayerNormEps: 1e-5, HiddenAct: "gelu", InitializerRange: 0.02}
	m, err := roberta.New(cfg, roberta.Options{Head: roberta.Prompt, NumLabels: 2, DType: o.DType, Device: o.Device, InitSeed: o.Seed})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	all, _, err := m.Params.Numel()
	if err != nil {
		return nil, err
	}
	rep := &SmokeReport{Params: all}
	b := &batch.Batch{Size: o.Batch, Len: o.Length}
	for r := 0; r < o.Batch; r++ {
		for j := 0; j < o.Length; j++ {
			id := int64(4 + (r*7919+j*104729)%(o.Vocab-4))
			if j == 0 {
				id = 0
			}
			b.InputIDs = append(b.InputIDs, id)
			b.AttentionMask = append(b.AttentionMask, 1)
		}
		b.MaskPos = append(b.MaskPos, int64(1+r%(o.Length-2)))
		b.Labels = append(b.Labels, int64(r%2))
	}
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: []int64{10, 20}})
	if err != nil {
		return nil, err
	}
	defer ob.Close()
	forward := func() (float64, error) {
		l, err := ob.Loss(b)
		return float64(l), err
	}
	pl, err := m.Params.TrainableList()
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	snap, err := pl.Snapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var fwd, pert []float64
	for i := 0; i < o.Reps; i++ {
		t0 := time.Now()
		if rep.Loss, err = forward(); err != nil {
			return nil, err
		}
		if err := torch.Synchronize(o.Device); err != nil {
			return nil, err
		}
		fwd = append(fwd, time.Since(t0).Seconds())
		t0 = time.Now()
		if err := pl.Perturb(o.Seed+uint64(i), 1, 1e-3); err != nil {
			return nil, err
		}
		if err := torch.Synchronize(o.Device); err != nil {
			return nil, err
		}
		pert = append(pert, time.Since(t0).Seconds())
		if err := pl.Perturb(o.Seed+uint64(i), -1, 1e-3); err != nil {
			return nil, err
		}
	}
	// +ε −2ε +ε on the parameters as MeZO does, then compare with the start.
	if err := pl.CopyFrom(snap); err != nil {
		return nil, err
	}
	for _, sc := range []float64{1, -2, 1} {
		if err := pl.Perturb(12345, sc, 1e-3); err != nil {
			return nil, err
		}
	}
	if rep.RestoreMaxAbsDiff, err = pl.MaxAbsDiff(snap); err != nil {
		return nil, err
	}
	rep.ForwardSeconds, rep.PerturbSeconds = median(fwd), median(pert)
	fmt.Fprintf(w, "smoke: random RoBERTa (%d layers, hidden %d, vocab %d): %.2fM parameters on %v, %v\n",
		o.Layers, o.Hidden, o.Vocab, float64(all)/1e6, o.Device, o.DType)
	fmt.Fprintf(w, "smoke: prompt loss %.6f on a %d×%d batch\n", rep.Loss, o.Batch, o.Length)
	fmt.Fprintf(w, "smoke: forward pass %.1f ms, perturbation pass %.1f ms (median of %d)\n",
		1e3*rep.ForwardSeconds, 1e3*rep.PerturbSeconds, o.Reps)
	fmt.Fprintf(w, "smoke: +ε −2ε +ε restore: max |θ − θ₀| = %.3g\n", rep.RestoreMaxAbsDiff)
	return rep, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
