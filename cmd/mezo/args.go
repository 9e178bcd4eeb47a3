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
// Global flags and the command path (`mezo --threads 2 data kshot …`) stay
// in place: at each level, that level's flags are kept, and a word naming a
// subcommand descends into it. A flag without "=" takes the next argument as
// its value unless the flag is boolean at that level or the next argument
// starts with "-".
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	flags := app.Flags
	subs := app.Commands
	i := 1
	// Walk the command path, keeping each level's own flags in place.
	for i < len(args) {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if isFlag(a) {
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		next := findCommand(subs, a)
		if next == nil {
			break
		}
		out = append(out, a)
		flags, subs = next.Flags, next.Subcommands
		i++
	}
	// In the innermost command: flags first, then positional arguments.
	var fl, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if isFlag(a) {
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				fl = append(fl, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	out = append(out, fl...)
	return append(out, pos...)
}

func isFlag(a string) bool { return strings.HasPrefix(a, "-") && a != "-" }

// takesValue reports whether flag argument a (without "=value") expects a
// separate value: any flag that is not boolean (help is boolean everywhere).
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") || name == "help" || name == "h" {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return true
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
