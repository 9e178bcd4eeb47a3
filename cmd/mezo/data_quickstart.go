package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/pkg/data/synth"
)

// `mezo data quickstart`: the quickstart's generated review task
// (pkg/data/synth.WriteTask).
func init() {
	registerData(&cli.Command{
		Name:      "quickstart",
		Usage:     "write the quickstart's generated SST-2-layout review task (train/dev/test.tsv)",
		UsageText: "mezo data quickstart [--seed N] [--output-dir DIR]",
		Description: "Writes the task recipes/quickstart.yaml trains on: short generated movie reviews, label 0\n" +
			"negative, 1 positive, in SST-2's layout. The default seed and directory give the committed files.",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "seed", Value: synth.TaskSeed, Usage: "generator `SEED`"},
			&cli.StringFlag{Name: "output-dir", Value: synth.TaskDir, Usage: "`DIR` receiving train.tsv, dev.tsv, test.tsv"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("data quickstart: unexpected argument %q", c.Args().First())
			}
			return synth.WriteTask(c.String("output-dir"), c.Uint64("seed"), synth.TaskSizes)
		},
	})
}
