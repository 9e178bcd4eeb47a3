package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/pkg/data/kshot"
)

// `mezo data kshot`: LM-BFF/MeZO k-shot splits (pkg/data/kshot.Generate).
func init() {
	registerData(&cli.Command{
		Name:      "kshot",
		Usage:     "generate k-shot train/dev/test splits exactly as LM-BFF/MeZO's generate_k_shot_data.py",
		UsageText: "mezo data kshot [--task NAME]... [--seed N]... [--k K]... [--mode MODE] [--data-dir DIR] [--output-dir DIR]",
		Description: "Reads <data-dir>/<TASK>/ (GLUE tasks: train.tsv and dev.tsv, MNLI dev_matched.tsv and\n" +
			"dev_mismatched.tsv; other tasks: headerless train.csv and test.csv) and writes\n" +
			"<output-dir>/<TASK>/<K>-<SEED>/{train,dev,test} files, byte for byte as the reference\n" +
			"generator (numpy 1.24 / pandas 1.5) writes them. Other files in the output directory are\n" +
			"left alone; each file is written atomically.\n\n" +
			"Modes: k-shot (LM-BFF), k-shot-10x (dev holds 10K per label), k-shot-1k-test (MeZO: test\n" +
			"sets over 1000 rows are cut to 1000 rows drawn with seed 42).\n\n" +
			"Without --task, every known task is generated and tasks missing from the data directory\n" +
			"are skipped with a note; named tasks must be present. Repeat --task/--seed/--k or give\n" +
			"comma-separated lists.\n\nKnown tasks: " + strings.Join(kshot.DefaultTasks(), ", ") + ".\n\n" +
			"Example (MeZO's data): mezo data kshot --mode k-shot-1k-test --k 16 --k 512 \\\n" +
			"  --data-dir data/original --output-dir data/k-shot-1k-test",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "task", Usage: "task `NAME` (repeatable; default: all known tasks present in --data-dir)"},
			&cli.IntSliceFlag{Name: "seed", Usage: "split `SEED` (repeatable; default: 100 13 21 42 87)"},
			&cli.IntSliceFlag{Name: "k", Usage: "training examples per label, `K` (repeatable; default: 16)"},
			&cli.StringFlag{Name: "mode", Value: kshot.ModeKShot, Usage: "`MODE`: k-shot, k-shot-10x or k-shot-1k-test"},
			&cli.StringFlag{Name: "data-dir", Value: filepath.Join("data", "original"), Usage: "`DIR` holding the original <TASK>/ folders"},
			&cli.StringFlag{Name: "output-dir", Usage: "`DIR` receiving <TASK>/<K>-<SEED>/ (default: data/<MODE>)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("data kshot: unexpected argument %q (repeat --task/--seed/--k for several values)", c.Args().First())
			}
			mode := c.String("mode")
			out := c.String("output-dir")
			if out == "" {
				out = filepath.Join("data", mode)
			}
			return kshot.Generate(kshot.Options{
				Tasks:     c.StringSlice("task"),
				Seeds:     c.IntSlice("seed"),
				K:         c.IntSlice("k"),
				DataDir:   c.String("data-dir"),
				OutputDir: out,
				Mode:      mode,
				Log:       c.App.ErrWriter,
			})
		},
	})
}
