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

	root := testenv.RepoRoot(t)
	build := exec.Command("bash", filepath.Join(root, "build.sh"))
	build.Dir = root
	build.Env = append(os.Environ(), "LIBTORCH="+lt, "BUILD_DIR="+filepath.Join(tmp, "build"), "BIN_DIR="+filepath.Join(tmp, "bin"))
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh with LIBTORCH=%s failed: %v\n%s", lt, err, out)
	}
	if !strings.Contains(string(out), "libtorch from LIBTORCH") {
		t.Fatalf("build.sh did not take the LIBTORCH branch:\n%s", out)
	}
	env := exec.Command(filepath.Join(tmp, "bin", "mezo"), "env", "--json")
	env.Env = os.Environ()
	js, err := env.Output()
	if err != nil {
		t.Fatalf("mezo env: %v", err)
	}
	var info struct {
		Libtorch struct{ Library, Shim string }
	}
	if err := json.Unmarshal(js, &info); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if !strings.HasPrefix(info.Libtorch.Library, filepath.Join(lt, "lib")) {
		t.Errorf("libtorch loaded from %s, want the relocated %s/lib", info.Libtorch.Library, lt)
	}
	if !strings.HasPrefix(filepath.Clean(info.Libtorch.Shim), filepath.Join(tmp, "build", "lib")) {
		t.Errorf("shim loaded from %s, want %s/build/lib", info.Libtorch.Shim, tmp)
	}
	t.Logf("mezo env: libtorch %s, shim %s", info.Libtorch.Library, info.Libtorch.Shim)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
