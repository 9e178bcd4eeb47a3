package main

import (
	"bytes"
	"strings"
	"testing"
)

// runMezo runs `mezo args...` in-process, as main does (through
// reorderArgs), with stdin as standard input, and returns what the command
// wrote to standard output and to standard error.
func runMezo(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Reader = strings.NewReader(stdin)
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.Run(reorderArgs(app, append([]string{"mezo"}, args...)))
	return out.String(), errOut.String(), err
}
