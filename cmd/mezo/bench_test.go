package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	for _, mode := range []string{"infer", "mezo"} {
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
