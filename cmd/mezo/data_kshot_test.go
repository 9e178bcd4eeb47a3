package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// runKShot runs `mezo data kshot args...` in-process, through reorderArgs as
// main does, and returns its stderr.
func runKShot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runMezo(t, "", append([]string{"data", "kshot"}, args...)...)
	return out + errOut, err
}

// TestDataKShotOfficial: `mezo data kshot --mode k-shot --k 16` regenerates
// LM-BFF's official 16-shot splits of SST-2, sst-5, trec and RTE.
func TestDataKShotOfficial(t *testing.T) {
	data := t.TempDir()
	for task, src := range map[string]string{"SST-2": "SST-2-original", "sst-5": "sst-5", "trec": "trec", "RTE": "RTE"} {
		if err := os.Symlink(testenv.SharedPath(t, "data", "original", src), filepath.Join(data, task)); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	log, err := runKShot(t, "--mode", "k-shot", "--k", "16", "--data-dir", data, "--output-dir", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if !strings.Contains(log, "skipping MNLI") {
		t.Errorf("no skip note for MNLI in:\n%s", log)
	}
	n := 0
	for _, task := range []string{"SST-2", "sst-5", "trec", "RTE"} {
		for _, seed := range []int{100, 13, 21, 42, 87} {
			rel := filepath.Join(task, fmt.Sprintf("16-%d", seed))
			want := testenv.SharedPath(t, "data", "k-shot", rel)
			entries, err := os.ReadDir(want)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				w, err1 := os.ReadFile(filepath.Join(want, e.Name()))
				g, err2 := os.ReadFile(filepath.Join(out, rel, e.Name()))
				if err1 != nil || err2 != nil {
					t.Fatalf("%s/%s: %v %v", rel, e.Name(), err1, err2)
				}
				if sha256.Sum256(w) != sha256.Sum256(g) {
					t.Errorf("%s/%s differs from the official file", rel, e.Name())
				}
				n++
			}
		}
	}
	t.Logf("%d official files match by sha256", n)
	if n != 60 {
		t.Errorf("compared %d files, want 60", n)
	}
}

func TestDataKShotUsage(t *testing.T) {
	help, err := runKShot(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--task", "--seed", "--k", "--mode", "--data-dir", "--output-dir", "k-shot-1k-test", "SST-2"} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q:\n%s", w, help)
		}
	}
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--task", "SST-2", "sst-5"}, `unexpected argument "sst-5"`},
		{[]string{"--mode", "full"}, `unknown mode "full"`},
		{[]string{"--task", "RTE"}, filepath.Join(data, "RTE")},
		{[]string{"--k", "x"}, "invalid value"},
	} {
		args := append(c.args, "--data-dir", data, "--output-dir", t.TempDir())
		if _, err := runKShot(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}
