package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstart runs the README's main job, `mezo run
// recipes/quickstart.yaml`, from the repository root as a user would (a
// child process, a fresh cache directory, nothing from ../shared; one
// thread), for two
// seeds, and asks MeZO for a real gain: final dev accuracy at least 20
// points above the step-0 (zero-shot prompt) accuracy. The second seed
// reuses the pre-trained model from the cache.
func TestQuickstart(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "cache")
	for i, seed := range []int{42, 13} {
		out := filepath.Join(tmp, fmt.Sprint("run-", seed))
		// One intra-op thread: go test runs packages side by side, and
		// libtorch's OpenMP threads on an oversubscribed machine slow the
		// pre-training tenfold (the result does not depend on it).
		cmd := exec.Command(self, "--", "--threads", "1", "run", filepath.Join("recipes", "quickstart.yaml"),
			"--set", "output.dir="+out, "--set", fmt.Sprint("optim.seed=", seed))
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "MEZO_TEST_CHILD=1", "XDG_CACHE_HOME="+cache)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			t.Fatalf("mezo run recipes/quickstart.yaml (seed %d): %v\n%s", seed, err, log.String())
		}
		pretrained := strings.Contains(log.String(), "pre-training the tiny RoBERTa")
		if pretrained != (i == 0) {
			t.Errorf("seed %d: pre-trained %v, want %v (the second run loads the cache)\n%s", seed, pretrained, i == 0, log.String())
		}
		var res struct {
			DevAtStart struct {
				Objective float64 `json:"objective"`
			} `json:"dev_at_start"`
			Dev struct {
				Objective float64 `json:"objective"`
			} `json:"dev"`
			TrainedSet string `json:"trained_set"`
		}
		b, err := os.ReadFile(filepath.Join(out, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		gain := res.Dev.Objective - res.DevAtStart.Objective
		t.Logf("seed %d: dev accuracy %.2f at step 0 → %.2f (%s)", seed, res.DevAtStart.Objective, res.Dev.Objective, res.TrainedSet)
		if gain < 0.20 {
			t.Errorf("seed %d: dev accuracy %.2f at step 0 → %.2f: gain %.2f, want ≥ 0.20\n%s", seed, res.DevAtStart.Objective, res.Dev.Objective, gain, log.String())
		}
		if res.TrainedSet == "" || !strings.Contains(log.String(), "dev at step 0: acc") || !strings.Contains(log.String(), "trained: "+res.TrainedSet) {
			t.Errorf("seed %d: the summary does not print dev at step 0 and the trained set\n%s", seed, log.String())
		}
		first := firstEval(t, filepath.Join(out, "metrics.jsonl"))
		if first["step"] != 0.0 || first["split"] != "dev" {
			t.Errorf("seed %d: first eval line of metrics.jsonl %v, want dev at step 0", seed, first)
		}
	}
}

// firstEval is the first eval line of a metrics.jsonl.
func firstEval(t *testing.T, path string) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m["kind"] == "eval" {
			return m
		}
	}
	t.Fatalf("%s: no eval line", path)
	return nil
}
