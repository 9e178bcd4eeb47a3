package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runMezo(t, "", args...)
	return out + errOut, err
}

func TestEnvJSON(t *testing.T) {
	out, err := runApp(t, "--threads", "1", "env", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Libtorch struct{ Version, Flavour, Library, Shim string }
		Devices  []string
		Threads  struct {
			IntraOp int `json:"intra_op"`
		}
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("env --json is not JSON: %v\n%s", err, out)
	}
	if !strings.Contains(in.Libtorch.Version, ".") || (in.Libtorch.Flavour != "cpu" && in.Libtorch.Flavour != "cuda") {
		t.Fatalf("bad libtorch report: %+v", in.Libtorch)
	}
	if !strings.Contains(in.Libtorch.Library, "libtorch") || !strings.Contains(in.Libtorch.Shim, "libmzshim") {
		t.Fatalf("library paths not reported: %+v", in.Libtorch)
	}
	if len(in.Devices) == 0 || in.Devices[0] != "cpu" {
		t.Fatalf("devices %v", in.Devices)
	}
	if in.Threads.IntraOp != 1 {
		t.Fatalf("--threads 1 not applied: %d", in.Threads.IntraOp)
	}
}

func TestSmoke(t *testing.T) {
	out, err := runApp(t, "smoke", "--layers", "1", "--hidden", "32", "--vocab", "500", "--length", "16", "--reps", "1")
	if err != nil {
		t.Fatal(err)
	}
	var loss, diff float64
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "smoke: prompt loss") {
			if _, err := fmtSscan(line, "smoke: prompt loss %g", &loss); err != nil {
				t.Fatal(err)
			}
		}
		if i := strings.Index(line, "max |θ − θ₀| = "); i >= 0 {
			if _, err := fmtSscan(line[i:], "max |θ − θ₀| = %g", &diff); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Two labels: a random model's loss is near ln 2; the restore is within
	// float32 rounding of parameters of size ~0.1 plus 4ε|z|.
	if loss <= 0 || math.IsNaN(loss) || loss > 5 {
		t.Fatalf("implausible loss %v:\n%s", loss, out)
	}
	if diff > 1e-6 {
		t.Fatalf("restore drift %v:\n%s", diff, out)
	}
	if _, err := runApp(t, "smoke", "--device", "tpu"); err == nil {
		t.Fatal("unknown device accepted")
	}
}

func fmtSscan(s, format string, v *float64) (int, error) { return fmt.Sscanf(s, format, v) }
