package buildtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

const module = "github.com/gomezo/gomezo"

// pureGo are the packages that must build without cgo and never reach
// libtorch (ARCHITECTURE.md, rules 2 and 3: zo knows parameters only
// through an interface).
var pureGo = []string{"pkg/data/...", "pkg/tokenizer/...", "pkg/nprand/...", "pkg/hf/...", "pkg/zo/..."}

// TestLayering checks the architecture's rules with go list: the pure-Go
// packages do not depend on cgo/torch and build with CGO_ENABLED=0, and
// cgo/torch is the only package whose files import "C".
func TestLayering(t *testing.T) {
	root := testenv.RepoRoot(t)
	for _, p := range pureGo {
		cmd := exec.Command("go", "list", "-deps", "./"+p)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps ./%s with CGO_ENABLED=0: %v\n%s", p, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == module+"/cgo/torch" || dep == "runtime/cgo" {
				t.Errorf("./%s depends on %s", p, dep)
			}
		}
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{len .CgoFiles}}", "./...")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] != "0" {
			n++
			if f[0] != module+"/cgo/torch" {
				t.Errorf("%s has cgo files; only cgo/torch may import \"C\"", f[0])
			}
		}
	}
	if n != 1 {
		t.Errorf("%d packages use cgo, want exactly cgo/torch", n)
	}
}
