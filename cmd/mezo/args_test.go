package main

import (
	"reflect"
	"testing"
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
