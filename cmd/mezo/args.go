package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves flags that follow a positional argument in front of it,
// within the innermost command, so `mezo train recipe.yaml --set lr=1e-6`
// works although urfave/cli stops parsing flags at the first positional
// argument. Everything from a literal "--" on is left as it is.
//
// The command path (the leading words that name commands of app) stays in
// place. A flag without "=" takes the next argument as its value unless the
// innermost command declares it boolean or the next argument starts with "-".
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	i := 1
	var cmd *cli.Command
	subs := app.Commands
	for i < len(args) {
		next := findCommand(subs, args[i])
		if next == nil {
			break
		}
		cmd = next
		subs = next.Subcommands
		out = append(out, args[i])
		i++
	}
	bools := map[string]bool{"help": true, "h": true}
	if cmd != nil {
		for _, f := range cmd.Flags {
			if _, ok := f.(*cli.BoolFlag); ok {
				for _, n := range f.Names() {
					bools[n] = true
				}
			}
		}
	}
	var flags, positional []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !bools[name] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		positional = append(positional, a)
	}
	out = append(out, flags...)
	return append(out, positional...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
