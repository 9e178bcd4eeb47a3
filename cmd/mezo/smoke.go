package main

import (
	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/envinfo"
)

// `mezo smoke`: a forward pass on a small random RoBERTa the command builds
// itself, with timings: checks a machine end to end without model files.
func init() {
	d := envinfo.DefaultSmoke()
	register(&cli.Command{
		Name:  "smoke",
		Usage: "build a small random RoBERTa, run the prompt loss, time forward and perturbation passes",
		UsageText: "mezo smoke [--device cpu|cuda:N] [--dtype float32|float64|float16|bfloat16] [--layers N] ...\n" +
			"   needs no model files; a check that libtorch, the shim and the model code work on this machine",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "`DEVICE`: cpu, cuda or cuda:N"},
			&cli.StringFlag{Name: "dtype", Value: "float32", Usage: "parameter `DTYPE` (float16/bfloat16 on CUDA only)"},
			&cli.IntFlag{Name: "layers", Value: d.Layers, Usage: "encoder layers"},
			&cli.IntFlag{Name: "hidden", Value: d.Hidden, Usage: "hidden size"},
			&cli.IntFlag{Name: "heads", Value: d.Heads, Usage: "attention heads"},
			&cli.IntFlag{Name: "vocab", Value: d.Vocab, Usage: "vocabulary size"},
			&cli.IntFlag{Name: "batch", Value: d.Batch, Usage: "batch size"},
			&cli.IntFlag{Name: "length", Value: d.Length, Usage: "sequence length"},
			&cli.IntFlag{Name: "reps", Value: d.Reps, Usage: "timed repetitions"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("smoke: takes no arguments", 2)
			}
			dev, err := torch.ParseDevice(c.String("device"))
			if err != nil {
				return err
			}
			dt, err := torch.ParseDType(c.String("dtype"))
			if err != nil {
				return err
			}
			o := envinfo.SmokeOptions{Device: dev, DType: dt, Layers: c.Int("layers"), Hidden: c.Int("hidden"),
				Heads: c.Int("heads"), Vocab: c.Int("vocab"), Batch: c.Int("batch"), Length: c.Int("length"),
				Reps: c.Int("reps"), Seed: d.Seed}
			_, err = envinfo.Smoke(c.App.Writer, o)
			return err
		},
	})
}
