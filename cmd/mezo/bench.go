package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/bench"
)

// `mezo bench`: time and measure one mode (two inference forwards, or a
// MeZO step) on a random prompt-head RoBERTa of a given shape.
func init() {
	var presets []string
	for k := range bench.Presets {
		presets = append(presets, k)
	}
	sort.Strings(presets)
	base := bench.Presets["roberta-base"]
	register(&cli.Command{
		Name:  "bench",
		Usage: "time a MeZO step or its two forward passes on a random RoBERTa; peak memory as the process saw it",
		UsageText: "mezo bench --mode infer|mezo [--preset " + strings.Join(presets, "|") + "] [--layers N] [--batch B] [--seq L] [--steps K] [--json]\n" +
			"   e.g. mezo bench --mode mezo --hidden 768 --heads 12 --ffn 3072 --vocab 50265 --layers 4 --batch 16 --seq 128 --threads 2\n" +
			"   one mode per process: peak_rss_bytes is the process's maximum resident set",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "mezo", Usage: "`MODE`: infer (two inference forward passes) or mezo (one MeZO step)"},
			&cli.StringFlag{Name: "preset", Usage: "`NAME` of a shape (" + strings.Join(presets, ", ") + "); other flags override it"},
			&cli.IntFlag{Name: "hidden", Value: base.Hidden, Usage: "hidden size"},
			&cli.IntFlag{Name: "layers", Value: base.Layers, Usage: "encoder layers"},
			&cli.IntFlag{Name: "heads", Value: base.Heads, Usage: "attention heads"},
			&cli.IntFlag{Name: "ffn", Value: base.FFN, Usage: "feed-forward (intermediate) size"},
			&cli.IntFlag{Name: "vocab", Value: base.Vocab, Usage: "vocabulary size"},
			&cli.IntFlag{Name: "batch", Value: base.Batch, Usage: "batch size"},
			&cli.IntFlag{Name: "seq", Value: base.Seq, Usage: "sequence length"},
			&cli.IntFlag{Name: "steps", Value: 3, Usage: "timed steps `K`, after one warm-up step"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "`DEVICE`: cpu, cuda or cuda:N"},
			&cli.StringFlag{Name: "dtype", Value: "float32", Usage: "parameter `DTYPE` (float16/bfloat16 on CUDA only)"},
			&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "forward `ARITHMETIC`: fp32, or bf16/fp16 under CUDA autocast on fp32 master weights (CUDA only)"},
			&cli.StringFlag{Name: "z", Value: "philox", Usage: "`STREAM` of z in mezo mode: philox or torch"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object (with --vs-reference: the comparison, as the last line)"},
			&cli.StringFlag{Name: "model", Usage: "read the weights from `FILE` (written by --save-model for the same shape) instead of drawing them"},
			&cli.StringFlag{Name: "save-model", Usage: "write the random model of this shape to `FILE` (safetensors) and exit"},
			&cli.BoolFlag{Name: "vs-reference", Usage: "measure infer, mezo (philox and torch z) and ft against bench/reference's Python baseline, alternating, each in its own process, on the same weights; print the ratios"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "with --vs-reference: runs of each process `N` (medians over rounds)"},
			&cli.StringFlag{Name: "python", Value: "/usr/bin/python3", Usage: "with --vs-reference: the `INTERPRETER` with torch (Debian's python3-torch)"},
			&cli.StringFlag{Name: "reference-script", Usage: "with --vs-reference: the baseline `SCRIPT` (default bench/reference/reference_bench.py beside the binary's ../)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("bench: takes no arguments", 2)
			}
			o, err := benchOptions(c)
			if err != nil {
				return err
			}
			if p := c.String("save-model"); p != "" {
				return bench.SaveModel(o, p)
			}
			if c.Bool("vs-reference") {
				return benchVsReference(c, o)
			}
			r, err := bench.Run(o)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(r)
			}
			return r.WriteTable(c.App.Writer)
		},
	})
}

// benchOptions reads the flags: a preset first, then every flag given.
func benchOptions(c *cli.Context) (bench.Options, error) {
	sh := bench.Presets["roberta-base"]
	if name := c.String("preset"); name != "" {
		p, ok := bench.Presets[name]
		if !ok {
			return bench.Options{}, fmt.Errorf("bench: unknown --preset %q", name)
		}
		sh = p
	}
	for name, dst := range map[string]*int{"hidden": &sh.Hidden, "layers": &sh.Layers, "heads": &sh.Heads,
		"ffn": &sh.FFN, "vocab": &sh.Vocab, "batch": &sh.Batch, "seq": &sh.Seq} {
		if c.IsSet(name) || c.String("preset") == "" {
			*dst = c.Int(name)
		}
	}
	dev, err := torch.ParseDevice(c.String("device"))
	if err != nil {
		return bench.Options{}, err
	}
	dt, err := torch.ParseDType(c.String("dtype"))
	if err != nil {
		return bench.Options{}, err
	}
	z, err := torch.ParseZStream(c.String("z"))
	if err != nil {
		return bench.Options{}, fmt.Errorf("bench: --z: %w", err)
	}
	var prec torch.DType
	switch p := c.String("precision"); p {
	case "fp32":
	case "bf16":
		prec = torch.BFloat16
	case "fp16":
		prec = torch.Float16
	default:
		return bench.Options{}, fmt.Errorf("bench: --precision %q: want fp32, bf16 or fp16", p)
	}
	return bench.Options{Shape: sh, Mode: c.String("mode"), Steps: c.Int("steps"), Device: dev, DType: dt, Seed: 1, Z: z, ZSet: true,
		Model: c.String("model"), Precision: prec}, nil
}

// benchVsReference runs bench.Compare with this executable as our side.
func benchVsReference(c *cli.Context, o bench.Options) error {
	if o.Device.CUDA {
		return cli.Exit("bench: --vs-reference runs on the CPU (the baseline script is CPU-only); use --device cpu", 2)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	script := c.String("reference-script")
	if script == "" {
		script = filepath.Join(filepath.Dir(self), "..", "bench", "reference", "reference_bench.py")
	}
	dir, err := os.MkdirTemp("", "mezo-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	threads, err := torch.NumThreads()
	if err != nil {
		return err
	}
	cmp, err := bench.Compare(bench.CompareOptions{Shape: o.Shape, Steps: o.Steps, Threads: threads, Rounds: c.Int("rounds"),
		Self: []string{self}, Python: c.String("python"), Script: script, Dir: dir, Log: c.App.ErrWriter})
	if err != nil {
		return err
	}
	if err := cmp.WriteTable(c.App.Writer); err != nil {
		return err
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(cmp)
	}
	return nil
}
