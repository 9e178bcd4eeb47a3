// Package buildtest checks build.sh itself.
package buildtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// TestBuildWithRelocatedLibtorch runs build.sh's $LIBTORCH branch on the CPU:
// a libtorch tree (include/, lib/) assembled in a temporary folder from
// Debian's libtorch, a shim and a mezo built against it in another temporary
// folder, and `mezo env --json` must report libtorch loaded from the
// relocated lib/ and the shim from the new build folder.
func TestBuildWithRelocatedLibtorch(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP (-short): compiles the shim (about a minute)")
	}
	libs, _ := filepath.Glob("/usr/lib/*/libtorch_cpu.so")
	if len(libs) == 0 || !exists("/usr/include/torch/csrc/api/include/torch/torch.h") {
		t.Skip("SKIP: Debian's libtorch-dev is not installed; this test relocates it")
	}
	sysLib := filepath.Dir(libs[0])
	tmp := t.TempDir()
	lt := filepath.Join(tmp, "libtorch")
	for _, d := range []string{"include", "lib"} {
		if err := os.MkdirAll(filepath.Join(lt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"ATen", "c10", "torch", "caffe2"} {
		if exists(filepath.Join("/usr/include", h)) {
			if err := os.Symlink(filepath.Join("/usr/include", h), filepath.Join(lt, "include", h)); err != nil {
				t.Fatal(err)
			}
		}
	}
	n := 0
	for _, pat := range []string{"libtorch.so*", "libtorch_cpu.so*", "libc10.so*", "libtorch_global_deps.so*"} {
		m, _ := filepath.Glob(filepath.Join(sysLib, pat))
		for _, f := range m {
			if err := os.Symlink(f, filepath.Join(lt, "lib", filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	t.Logf("relocated libtorch: %d library files under %s", n, lt)

	info := buildAndRun(t, tmp, "LIBTORCH", "LIBTORCH="+lt)
	if !strings.HasPrefix(info.Libtorch.Library, filepath.Join(lt, "lib")) {
		t.Errorf("libtorch loaded from %s, want the relocated %s/lib", info.Libtorch.Library, lt)
	}
}

// TestBuildFromPythonTorch runs build.sh's third source, the libtorch inside
// a Python torch install (what a GPU machine with PyTorch and no libtorch
// has), forced with TORCH_FROM=python.
func TestBuildFromPythonTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP (-short): compiles the shim (about a minute)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Skip("SKIP: /usr/bin/python3 has no torch (apt-get install python3-torch)")
	}
	tmp := t.TempDir()
	buildAndRun(t, tmp, "python:/usr/bin/python3", "TORCH_FROM=python", "PYTHON=/usr/bin/python3")
}

type envReport struct {
	Libtorch struct{ Version, Library, Shim string }
}

// buildAndRun runs build.sh with env into tmp/build and tmp/bin, checks that
// it took the source named want, and returns what the new mezo's env
// --json reports; the shim must come from tmp/build/lib.
func buildAndRun(t *testing.T, tmp, want string, env ...string) envReport {
	t.Helper()
	root := testenv.RepoRoot(t)
	build := exec.Command("bash", filepath.Join(root, "build.sh"))
	build.Dir = root
	build.Env = append(append(os.Environ(), "BUILD_DIR="+filepath.Join(tmp, "build"), "BIN_DIR="+filepath.Join(tmp, "bin")), env...)
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh %v failed: %v\n%s", env, err, out)
	}
	if !strings.Contains(string(out), "libtorch from "+want) {
		t.Fatalf("build.sh %v did not take the %s branch:\n%s", env, want, out)
	}
	if strings.Contains(string(out), "warning:") {
		t.Errorf("the shim compiled with warnings:\n%s", out)
	}
	cmd := exec.Command(filepath.Join(tmp, "bin", "mezo"), "env", "--json")
	js, err := cmd.Output()
	if err != nil {
		t.Fatalf("mezo env: %v", err)
	}
	var info envReport
	if err := json.Unmarshal(js, &info); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if !strings.HasPrefix(filepath.Clean(info.Libtorch.Shim), filepath.Join(tmp, "build", "lib")) {
		t.Errorf("shim loaded from %s, want %s/build/lib", info.Libtorch.Shim, tmp)
	}
	t.Logf("%s: mezo env: libtorch %s from %s, shim %s", want, info.Libtorch.Version, info.Libtorch.Library, info.Libtorch.Shim)
	return info
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
