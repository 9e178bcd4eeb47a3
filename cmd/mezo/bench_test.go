package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/bench"
)

func TestBenchJSON(t *testing.T) {
	for _, mode := range []string{"infer", "mezo", "ft"} {
		out, err := runApp(t, "--threads", "1", "bench", "--mode", mode, "--hidden", "32", "--heads", "2", "--ffn", "64",
			"--vocab", "300", "--layers", "2", "--batch", "2", "--seq", "16", "--steps", "2", "--json")
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: not one JSON object: %v\n%s", mode, err, out)
		}
		for _, k := range []string{"mode", "params", "batch", "seq", "threads", "median_step_s", "min_step_s", "max_step_s", "peak_rss_bytes"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s: no %q in %s", mode, k, out)
			}
		}
		if r["mode"] != mode || r["batch"].(float64) != 2 || r["seq"].(float64) != 16 || r["threads"].(float64) != 1 {
			t.Errorf("%s: flags not reflected: %s", mode, out)
		}
		if r["peak_rss_bytes"].(float64) <= 0 || r["min_step_s"].(float64) > r["max_step_s"].(float64) {
			t.Errorf("%s: implausible figures: %s", mode, out)
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	out, err := runApp(t, "bench", "--mode", "fast", "--hidden", "30", "--heads", "4", "--steps", "0")
	if err == nil {
		t.Fatalf("accepted bad flags:\n%s", out)
	}
	for _, want := range []string{"--mode", "--hidden 30 is not a multiple of --heads 4", "--steps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := runApp(t, "bench", "--precision", "bf16", "--layers", "1", "--hidden", "32", "--heads", "2", "--vocab", "100"); err == nil || !strings.Contains(err.Error(), "needs a CUDA device") {
		t.Errorf("bf16 on the CPU: %v, want a refusal that names CUDA", err)
	}
	if _, err := runApp(t, "bench", "--device", "cuda:7", "--layers", "1", "--hidden", "32", "--heads", "2", "--vocab", "100"); err == nil || !strings.Contains(err.Error(), "devices available: cpu") {
		t.Errorf("an absent CUDA device: %v", err)
	}
}

// TestEnvBLASAndThreads: env names the BLAS libtorch resolved (on CI, whose
// setup installs OpenBLAS, it must be OpenBLAS) and, without --threads,
// uses one intra-op thread per available CPU.
func TestEnvBLASAndThreads(t *testing.T) {
	t.Setenv("MEZO_THREADS", "")
	os.Unsetenv("MEZO_THREADS")
	out, err := runApp(t, "env", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		BLAS struct {
			Library, Vendor, Warning string
		}
		Threads struct {
			IntraOp int `json:"intra_op"`
			CPUs    int `json:"cpus"`
		}
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if in.BLAS.Library == "" || in.BLAS.Vendor == "" {
		t.Errorf("no BLAS reported: %s", out)
	}
	if os.Getenv("CI") != "" && in.BLAS.Vendor != "openblas" {
		t.Errorf("CI installs libopenblas0-pthread, yet libtorch uses %q (%s)", in.BLAS.Vendor, in.BLAS.Library)
	}
	if in.BLAS.Vendor == "reference" && in.BLAS.Warning == "" {
		t.Error("the reference BLAS is reported without a warning")
	}
	if in.Threads.IntraOp != runtime.NumCPU() || in.Threads.CPUs != runtime.NumCPU() {
		t.Errorf("default threads %d (CPUs %d), want %d", in.Threads.IntraOp, in.Threads.CPUs, runtime.NumCPU())
	}
}

// TestBenchVsReference runs the comparison on a tiny shape: our side is
// this binary, the reference's is bench/reference/reference_bench.py on
// Debian's python3-torch (CI installs it). Both load the same weights, so
// the same function must come out on both sides: the inference loss, the
// loss after a MeZO step with torch's z stream (the reference's stream and
// update) and after an FT step (HF AdamW) agree to fp32 rounding; the
// ratios the performance issue names are in the JSON.
func TestBenchVsReference(t *testing.T) {
	root := testenv.RepoRoot(t)
	c, err := bench.Compare(bench.CompareOptions{
		Shape: bench.Shape{Hidden: 32, Layers: 2, Heads: 2, FFN: 64, Vocab: 300, Batch: 4, Seq: 16},
		Steps: 2, Threads: 1, Rounds: 1, Self: []string{os.Args[0], "--"}, Env: []string{"MEZO_TEST_CHILD=1"},
		Python: "/usr/bin/python3", Script: filepath.Join(root, "bench", "reference", "reference_bench.py"), Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, a, b float32) {
		if d := math.Abs(float64(a - b)); d > 1e-5*math.Abs(float64(b)) {
			t.Errorf("%s: ours %.8g, reference %.8g (|Δ| %.3g > 1e-5 relative)", what, a, b, d)
		}
	}
	last := func(s *bench.Side) float32 { return s.Rounds[0].Loss }
	near("inference loss", last(c.Ours["infer"]), last(c.Reference["infer"]))
	near("loss after MeZO steps, torch z", last(c.Ours["mezo-torch"]), last(c.Reference["mezo"]))
	near("loss after FT steps", last(c.Ours["ft"]), last(c.Reference["ft"]))
	if last(c.Ours["mezo"]) == last(c.Reference["mezo"]) {
		t.Errorf("philox z gave the torch stream's loss %v: the streams are not independent", last(c.Ours["mezo"]))
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"step_ratio", "step_over_forwards", "step_over_own_forwards", "memory_ratio", "ft_memory_ratio", "step_ratio_torch_z"} {
		v, ok := top[k].(float64)
		if !ok || !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v, want a positive ratio at the top level of the JSON", k, top[k])
		}
	}
	if p := c.Ours["mezo"].Rounds[0]; p.PassesPerStep != 3 || p.ZStream != "philox" {
		t.Errorf("default MeZO step: %d passes, z %q; want 3 passes of philox", p.PassesPerStep, p.ZStream)
	}
}
