// Package testenv locates the read-only shared folder (data sets, tokenizer
// files, golden fixtures) that tests read. It is ../shared relative to the
// repository root, or $MEZO_SHARED when set. Tests never write there.
package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot returns the directory holding go.mod, searching upward from the
// working directory (a package directory under `go test`).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Shared returns the shared folder. A missing folder fails the test: the
// fixtures are part of what the tests check, and a test that silently skips
// them would pass having checked nothing.
func Shared(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MEZO_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("testenv: shared folder %s not found (set MEZO_SHARED or place shared/ beside the repository)", dir)
	}
	return dir
}

// SharedPath joins elements onto the shared folder.
func SharedPath(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Shared(t)}, elem...)...)
}

// ListEnv splits a colon-separated environment variable (such as
// MEZO_PARITY_DIRS) into its non-empty entries.
func ListEnv(name string) []string {
	var out []string
	for _, p := range strings.Split(os.Getenv(name), ":") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
