package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestReorderArgs(t *testing.T) {
	app := newApp()
	cases := []struct{ in, want []string }{
		{[]string{"mezo", "--threads", "2", "env", "--json"}, []string{"mezo", "--threads", "2", "env", "--json"}},
		{[]string{"mezo", "tokenize", "x", "--model", "d", "--special", "y"}, []string{"mezo", "tokenize", "--model", "d", "--special", "x", "y"}},
		{[]string{"mezo", "data", "kshot", "--k", "16", "--task", "SST-2"}, []string{"mezo", "data", "kshot", "--k", "16", "--task", "SST-2"}},
		{[]string{"mezo", "env", "a", "--", "--json"}, []string{"mezo", "env", "a", "--", "--json"}},
		{[]string{"mezo", "smoke", "--layers=2", "pos"}, []string{"mezo", "smoke", "--layers=2", "pos"}},
	}
	for _, c := range cases {
		if got := reorderArgs(app, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHelpOnEveryCommand runs `--help` on every command and subcommand.
func TestHelpOnEveryCommand(t *testing.T) {
	var paths [][]string
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Name == "help" {
				continue
			}
			p := append(append([]string(nil), prefix...), c.Name)
			paths = append(paths, p)
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp().Commands)
	if len(paths) < 6 {
		t.Fatalf("only %d commands registered: %v", len(paths), paths)
	}
	for _, p := range paths {
		out, errOut, err := runMezo(t, "", append(p, "--help")...)
		if err != nil {
			t.Errorf("mezo %v --help: %v", p, err)
			continue
		}
		if text := out + errOut; !strings.Contains(text, "USAGE") || !strings.Contains(text, p[len(p)-1]) {
			t.Errorf("mezo %v --help printed no usage:\n%s", p, text)
		}
	}
	t.Logf("--help checked on %d commands", len(paths))
}
