// Command mezo is the gomezo command line: fine-tuning language models with
// forward passes only (MeZO), over libtorch.
//
// Each command lives in its own file and registers itself with register (or
// registerData for `mezo data …` subcommands) from an init function, so the
// commands stay independent of one another. The action of every command calls
// one package function; this package parses flags and nothing else.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

var (
	commands     []*cli.Command
	dataCommands []*cli.Command
)

// register adds a top-level command.
func register(c *cli.Command) { commands = append(commands, c) }

// registerData adds a subcommand of `mezo data`.
func registerData(c *cli.Command) { dataCommands = append(dataCommands, c) }

// newApp builds the CLI. It is a function (not a global) so tests can run
// commands in-process with their own writers.
func newApp() *cli.App {
	cmds := append([]*cli.Command(nil), commands...)
	if len(dataCommands) > 0 {
		subs := append([]*cli.Command(nil), dataCommands...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		cmds = append(cmds, &cli.Command{
			Name:        "data",
			Usage:       "data sets: k-shot splits, encoding for inspection",
			Subcommands: subs,
		})
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return &cli.App{
		Name:                 "mezo",
		Usage:                "fine-tune language models with forward passes only (MeZO) over libtorch",
		Commands:             cmds,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "threads", Usage: "libtorch intra-op `N` threads (default: the CPUs this process may use)", EnvVars: []string{"MEZO_THREADS"}},
			&cli.IntFlag{Name: "interop-threads", Usage: "libtorch inter-op pool size `N`", EnvVars: []string{"MEZO_INTEROP_THREADS"}},
		},
		Before: setThreads,
	}
}

func main() {
	app := newApp()
	if err := app.Run(reorderArgs(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "mezo:", err)
		os.Exit(1)
	}
}
