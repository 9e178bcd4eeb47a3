// Package bench measures what a MeZO step costs on a model of a given
// shape: a random prompt-head RoBERTa built in memory (no files), a
// synthetic batch, and timed steps of one mode per process, so that the
// process's peak resident memory belongs to that mode alone.
//
// Modes: infer is two inference forward passes (the floor of a MeZO step);
// mezo is one efficient MeZO step (zo.Step: +εz, ℓ+, −2εz, ℓ−, +εz, update);
// ft is one fine-tuning step (train.FineTune: forward with autograd,
// backward, gradient clipping at 1, the reference's AdamW at lr 1e-5),
// dropout off in every mode so the three modes run the same forward.
package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/envinfo"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/optim"
	"github.com/gomezo/gomezo/pkg/train"
	"github.com/gomezo/gomezo/pkg/zo"
)

// Shape is the model and batch geometry.
type Shape struct {
	Hidden, Layers, Heads, FFN, Vocab int
	Batch, Seq                        int
}

// Presets are the RoBERTa sizes the paper uses, at batch 16 and length 128.
var Presets = map[string]Shape{
	"roberta-base":  {Hidden: 768, Layers: 12, Heads: 12, FFN: 3072, Vocab: 50265, Batch: 16, Seq: 128},
	"roberta-large": {Hidden: 1024, Layers: 24, Heads: 16, FFN: 4096, Vocab: 50265, Batch: 16, Seq: 128},
}

// Modes lists the modes Run knows.
var Modes = []string{"infer", "mezo", "ft"}

// Options configure a benchmark run.
type Options struct {
	Shape
	Mode   string
	Steps  int // timed steps, after one warm-up step
	Device torch.Device
	DType  torch.DType
	Eps    float64 // MeZO's ε (mezo mode)
	LR     float64 // MeZO's learning rate (mezo mode)
	Seed   uint64
	// Z is the z stream of the mezo mode (philox unless set).
	Z torch.ZStream
	// ZSet says Z was chosen (the zero value is torch).
	ZSet bool
	// Precision is the forward's autocast dtype (BFloat16, Float16; 0:
	// fp32 arithmetic), on fp32 master weights; CUDA only.
	Precision torch.DType
	// Model, when set, is a file written by SaveModel for the same shape:
	// the weights are read from it instead of drawn.
	Model string
}

// Validate reports every problem with o at once.
func (o Options) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("--%s must be at least 1, got %d", name, v))
		}
	}
	pos("hidden", o.Hidden)
	pos("layers", o.Layers)
	pos("heads", o.Heads)
	pos("ffn", o.FFN)
	pos("batch", o.Batch)
	pos("steps", o.Steps)
	if o.Vocab < 8 {
		errs = append(errs, fmt.Errorf("--vocab must be at least 8, got %d", o.Vocab))
	}
	if o.Seq < 4 {
		errs = append(errs, fmt.Errorf("--seq must be at least 4, got %d", o.Seq))
	}
	if o.Heads > 0 && o.Hidden%o.Heads != 0 {
		errs = append(errs, fmt.Errorf("--hidden %d is not a multiple of --heads %d", o.Hidden, o.Heads))
	}
	found := false
	for _, m := range Modes {
		found = found || m == o.Mode
	}
	if !found {
		errs = append(errs, fmt.Errorf("--mode %q: want one of %s", o.Mode, strings.Join(Modes, ", ")))
	}
	return errors.Join(errs...)
}

// Result is what Run measured; its JSON form is stable for scripts.
type Result struct {
	Mode   string `json:"mode"`
	Device string `json:"device"`
	DType  string `json:"dtype"`
	// Precision is the forward's arithmetic: float32, or the autocast dtype.
	Precision string `json:"precision"`
	Params    int64  `json:"params"`
	Hidden    int    `json:"hidden"`
	Layers    int    `json:"layers"`
	Heads     int    `json:"heads"`
	FFN       int    `json:"ffn"`
	Vocab     int    `json:"vocab"`
	Batch     int    `json:"batch"`
	Seq       int    `json:"seq"`
	Threads   int    `json:"threads"`
	Steps     int    `json:"steps"`

	MedianStepS float64   `json:"median_step_s"`
	MinStepS    float64   `json:"min_step_s"`
	MaxStepS    float64   `json:"max_step_s"`
	StepS       []float64 `json:"step_s"`
	// ForwardsPerS is forward passes per second (2 per step in both modes).
	ForwardsPerS float64 `json:"forwards_per_s"`

	// PeakRSSBytes is the process's maximum resident set (getrusage), so
	// run one mode per process.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// RSSWarmBytes and RSSEndBytes are the resident set after the warm-up
	// step and after the last timed step (/proc/self/statm): their
	// difference is what the timed steps grew it by.
	RSSWarmBytes int64 `json:"rss_warm_bytes"`
	RSSEndBytes  int64 `json:"rss_end_bytes"`
	// RSSTrace is the resident set after every tenth of the timed steps
	// (each step when there are fewer than ten): growth shows as a trend.
	RSSTrace []int64 `json:"rss_trace_bytes"`
	// ParamBytes is the bytes of the model's parameters.
	ParamBytes int64 `json:"param_bytes"`
	// PeakCPUTensorBytes is the peak of live CPU tensor bytes during the
	// timed steps, from the shim's counting allocator (0 when it is off).
	PeakCPUTensorBytes int64 `json:"peak_cpu_tensor_bytes"`
	// PeakCUDABytes is the CUDA caching allocator's peak (CUDA only).
	PeakCUDABytes int64  `json:"peak_cuda_bytes,omitempty"`
	BLAS          string `json:"blas"`
	// ZStream is the mezo mode's z stream (ZSIMD the CPU build of its
	// philox passes: avx512, avx2 or portable); PassS the median time of one
	// perturbation pass (of the timed steps), PassesPerStep how many a step
	// makes, PassShare their share of the step.
	ZStream       string  `json:"z_stream,omitempty"`
	ZSIMD         string  `json:"z_simd,omitempty"`
	PassS         float64 `json:"pass_s,omitempty"`
	PassesPerStep int     `json:"passes_per_step,omitempty"`
	PassShare     float64 `json:"pass_share,omitempty"`
	// ForwardS is the median time of one forward pass (loss included) of
	// the timed steps, infer and mezo modes: a MeZO step's own forwards,
	// timed in the same process as its passes.
	ForwardS float64 `json:"forward_s,omitempty"`
	Loss     float32 `json:"last_loss"`
}

// Run builds the model and batch, runs one warm-up step and o.Steps timed
// steps of o.Mode.
func Run(o Options) (*Result, error) {
	if o.DType == 0 {
		o.DType = torch.Float32
	}
	if o.Eps == 0 {
		o.Eps = 1e-3
	}
	if o.LR == 0 {
		o.LR = 1e-7
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m, err := newModel(o)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: []int64{5, 6}, Precision: o.Precision})
	if err != nil {
		return nil, err
	}
	defer ob.Close()
	pl, err := m.Params.TrainableList()
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	params, _, err := m.Params.Numel()
	if err != nil {
		return nil, err
	}
	if !o.ZSet {
		o.Z = torch.ZPhilox
	}
	if err := pl.SetZStream(o.Z); err != nil {
		return nil, err
	}
	var ft *train.FineTune
	if o.Mode == "ft" {
		if ft, err = newFineTune(m, ob, pl); err != nil {
			return nil, err
		}
		defer ft.Close()
	}
	tp := &timedParams{pl: pl, dev: o.Device}
	var passS []float64
	b := syntheticBatch(o.Batch, o.Seq, o.Vocab)
	// fwdS times every forward pass of the timed steps (infer and mezo).
	var fwdS []float64
	timing := false
	loss := func() (float32, error) {
		t0 := time.Now()
		l, err := ob.Loss(b)
		if timing {
			fwdS = append(fwdS, time.Since(t0).Seconds())
		}
		return l, err
	}
	var last float32
	step := func(i int) error {
		switch o.Mode {
		case "infer":
			for k := 0; k < 2; k++ {
				if last, err = loss(); err != nil {
					return err
				}
			}
		case "mezo":
			tp.passes, tp.total = 0, 0
			r, err := zo.Step(tp, loss, o.Seed+uint64(i), zo.Config{Eps: o.Eps, LR: o.LR})
			if err != nil {
				return err
			}
			if i > 0 {
				passS = append(passS, tp.total.Seconds()/float64(tp.passes))
			}
			last = r.LossPlus
		case "ft":
			rec, err := ft.Step(b, 0, i)
			if err != nil {
				return err
			}
			last = rec.Loss
		}
		return torch.Synchronize(o.Device)
	}
	if err := step(0); err != nil { // warm-up: allocator caches, scratch buffers
		return nil, err
	}
	if err := torch.ResetCPUPeak(); err != nil {
		return nil, err
	}
	rssWarm := envinfo.RSS()
	prec := torch.Float32
	if o.Precision != 0 {
		prec = o.Precision
	}
	res := &Result{Mode: o.Mode, Device: o.Device.String(), DType: o.DType.String(), Precision: prec.String(), Params: params,
		Hidden: o.Hidden, Layers: o.Layers, Heads: o.Heads, FFN: o.FFN, Vocab: o.Vocab, Batch: o.Batch, Seq: o.Seq,
		Steps: o.Steps, ParamBytes: params * int64(o.DType.Size())}
	timing = true
	for i := 1; i <= o.Steps; i++ {
		t0 := time.Now()
		if err := step(i); err != nil {
			return nil, err
		}
		res.StepS = append(res.StepS, time.Since(t0).Seconds())
		if every := max(1, o.Steps/10); i%every == 0 {
			res.RSSTrace = append(res.RSSTrace, envinfo.RSS())
		}
	}
	res.Loss = last
	res.RSSWarmBytes, res.RSSEndBytes = rssWarm, envinfo.RSS()
	sorted := append([]float64(nil), res.StepS...)
	sort.Float64s(sorted)
	res.MinStepS, res.MaxStepS = sorted[0], sorted[len(sorted)-1]
	res.MedianStepS = sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		res.MedianStepS = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	res.ForwardsPerS = 2 / res.MedianStepS
	if o.Mode == "ft" {
		res.ForwardsPerS = 1 / res.MedianStepS
	}
	if len(fwdS) > 0 {
		sort.Float64s(fwdS)
		res.ForwardS = fwdS[len(fwdS)/2]
	}
	if o.Mode == "mezo" {
		sort.Float64s(passS)
		res.ZStream, res.PassesPerStep = o.Z.String(), tp.passes
		if o.Z == torch.ZPhilox && !o.Device.CUDA {
			if res.ZSIMD, err = torch.PhiloxSIMD(); err != nil {
				return nil, err
			}
		}
		res.PassS = passS[len(passS)/2]
		res.PassShare = res.PassS * float64(tp.passes) / res.MedianStepS
	}
	if res.Threads, err = torch.NumThreads(); err != nil {
		return nil, err
	}
	mem, err := torch.CPUMemoryStats()
	if err != nil {
		return nil, err
	}
	res.PeakCPUTensorBytes = mem.Peak
	if o.Device.CUDA {
		if _, res.PeakCUDABytes, err = torch.CUDAMemory(o.Device); err != nil {
			return nil, err
		}
	}
	if bl, err := torch.BLASInfo(); err == nil {
		res.BLAS = bl.Vendor
		if bl.Core != "" {
			res.BLAS += " (" + bl.Core + ")"
		}
	}
	res.PeakRSSBytes = envinfo.PeakRSS()
	return res, nil
}

// newModel is the random prompt-head RoBERTa of o's shape, the same for
// the same o.Seed.
func newModel(o Options) (*roberta.Model, error) {
	if err := torch.CheckDevice(o.Device); err != nil {
		return nil, err
	}
	cfg := &hf.Config{ModelType: "roberta", VocabSize: o.Vocab, HiddenSize: o.Hidden, NumHiddenLayers: o.Layers,
		NumAttentionHeads: o.Heads, IntermediateSize: o.FFN, MaxPositionEmbeddings: o.Seq + 2,
		TypeVocabSize: 1, PadTokenID: 1, LayerNormEps: 1e-5, HiddenAct: "gelu", InitializerRange: 0.02}
	opts := roberta.Options{Head: roberta.Prompt, NumLabels: 2, DType: o.DType, Device: o.Device, InitSeed: o.Seed + 1}
	if o.Model != "" {
		m, err := roberta.LoadCheckpoint(o.Model, cfg, opts)
		if err != nil {
			return nil, fmt.Errorf("bench: --model: %w", err)
		}
		return m, nil
	}
	return roberta.New(cfg, opts)
}

// SaveModel writes the random model Run would build for o to path
// (safetensors, HF names, atomically), for a baseline that loads the same
// weights. Run it in its own process: the host copy counts in peak RSS.
func SaveModel(o Options, path string) error {
	if o.DType == 0 {
		o.DType = torch.Float32
	}
	if err := o.Validate(); err != nil {
		return err
	}
	m, err := newModel(o)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Save(path, map[string]string{"writer": "mezo bench"}); err != nil {
		return fmt.Errorf("bench: save model: %w", err)
	}
	return nil
}

// newFineTune is the fine-tuning step the run's trainer uses, with the
// reference's defaults: HF AdamW (weight decay 0), lr 1e-5 constant, max
// gradient norm 1, dropout off.
func newFineTune(m *roberta.Model, ob *objective.Objective, pl *torch.ParamList) (*train.FineTune, error) {
	var names []string
	for _, p := range m.Params.Trainable() {
		names = append(names, p.Name)
	}
	opt, err := optim.New(pl, names, optim.Config{Kind: optim.Adam})
	if err != nil {
		return nil, err
	}
	if err := m.Params.SetRequiresGrad(true); err != nil {
		opt.Close()
		return nil, err
	}
	return &train.FineTune{Net: &train.RobertaNet{Model: m, Objective: ob}, Params: pl, Opt: opt, Sched: optim.Constant{Base: 1e-5}, MaxNorm: 1}, nil
}

// syntheticBatch is a full batch of B rows of L tokens: <s>, ids spread
// over the vocabulary, a <mask> slot, labels alternating.
func syntheticBatch(B, L, vocab int) *batch.Batch {
	b := &batch.Batch{Size: B, Len: L}
	for r := 0; r < B; r++ {
		for j := 0; j < L; j++ {
			id := int64(4 + (r*7919+j*104729)%(vocab-4))
			if j == 0 {
				id = 0
			}
			b.InputIDs = append(b.InputIDs, id)
			b.AttentionMask = append(b.AttentionMask, 1)
		}
		b.MaskPos = append(b.MaskPos, int64(1+r%(L-2)))
		b.Labels = append(b.Labels, int64(r%2))
	}
	return b
}

// WriteTable writes r for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mb := func(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }
	fmt.Fprintf(tw, "mode\t%s\n", r.Mode)
	fmt.Fprintf(tw, "model\t%.1fM parameters (hidden %d, %d layers, %d heads, FFN %d, vocab %d), %s on %s, forward in %s\n",
		float64(r.Params)/1e6, r.Hidden, r.Layers, r.Heads, r.FFN, r.Vocab, r.DType, r.Device, r.Precision)
	fmt.Fprintf(tw, "batch\t%d × %d tokens, %d threads, BLAS %s\n", r.Batch, r.Seq, r.Threads, r.BLAS)
	fmt.Fprintf(tw, "step\tmedian %.3f s (min %.3f, max %.3f) over %d steps; %.2f forward passes/s\n",
		r.MedianStepS, r.MinStepS, r.MaxStepS, r.Steps, r.ForwardsPerS)
	if r.PassesPerStep > 0 {
		z := r.ZStream
		if r.ZSIMD != "" {
			z += ", " + r.ZSIMD
		}
		fmt.Fprintf(tw, "passes\t%d perturbation passes per step (z %s), median %.3f s each, %.0f%% of the step\n",
			r.PassesPerStep, z, r.PassS, 100*r.PassShare)
	}
	fmt.Fprintf(tw, "memory\tpeak RSS %s; parameters %s; peak CPU tensors %s\n", mb(r.PeakRSSBytes), mb(r.ParamBytes), mb(r.PeakCPUTensorBytes))
	fmt.Fprintf(tw, "growth\tRSS %s after warm-up, %s after %d steps (%+.1f MB)\n", mb(r.RSSWarmBytes), mb(r.RSSEndBytes), r.Steps,
		float64(r.RSSEndBytes-r.RSSWarmBytes)/1e6)
	if r.PeakCUDABytes > 0 {
		fmt.Fprintf(tw, "cuda\tpeak allocated %s\n", mb(r.PeakCUDABytes))
	}
	if math.IsNaN(float64(r.Loss)) {
		fmt.Fprintf(tw, "warning\tthe loss is NaN\n")
	}
	return tw.Flush()
}
