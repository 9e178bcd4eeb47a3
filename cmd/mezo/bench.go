package main

import (
	"encoding/json"
	"fmt"
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
			&cli.StringFlag{Name: "z", Value: "philox", Usage: "`STREAM` of z in mezo mode: philox or torch"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("bench: takes no arguments", 2)
			}
			o, err := benchOptions(c)
			if err != nil {
				return err
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
	return bench.Options{Shape: sh, Mode: c.String("mode"), Steps: c.Int("steps"), Device: dev, DType: dt, Seed: 1, Z: z, ZSet: true}, nil
}
