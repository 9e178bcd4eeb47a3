package main

import (
	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/pkg/envinfo"
)

// `mezo env`: the libtorch, devices and threads this binary runs on.
func init() {
	register(&cli.Command{
		Name:  "env",
		Usage: "show the libtorch under the shim (version, CPU/CUDA, library path), devices and threads",
		UsageText: "mezo env [--json] [--verbose]\n" +
			"   mezo --threads 2 env --json",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object (for machines)"},
			&cli.BoolFlag{Name: "verbose", Usage: "add libtorch's parallel_info report"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("env: takes no arguments", 2)
			}
			in, err := envinfo.Collect(c.Bool("verbose"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return in.WriteJSON(c.App.Writer)
			}
			return in.WriteText(c.App.Writer)
		},
	})
}
