package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomezo/gomezo/internal/testenv"
)

// TestMain lets the resume tests run this test binary as the mezo command
// in a child process: MEZO_TEST_CHILD=1 and the command line after "--".
func TestMain(m *testing.M) {
	if os.Getenv("MEZO_TEST_CHILD") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"mezo"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child starts `mezo ARGS` as a separate process.
func child(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return childEnv(t, nil, args...)
}

// childEnv starts `mezo ARGS` as a separate process with env added to its
// environment.
func childEnv(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	cmd.Env = append(append(os.Environ(), "MEZO_TEST_CHILD=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd
}

func childRun(t *testing.T, args ...string) string {
	t.Helper()
	cmd := child(t, args...)
	err := cmd.Wait()
	out := cmd.Stdout.(*bytes.Buffer).String()
	if err != nil {
		t.Fatalf("mezo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// resumeRecipe writes a small run of kind with a checkpoint every 4 steps.
func resumeRecipe(t *testing.T, dir, kind string) string {
	t.Helper()
	y := fmt.Sprintf(`model:
  path: %q
task:
  name: SST-2
  data_dir: %q
method:
  kind: %s
optim:
  lr: %s
  batch_size: 12
  max_steps: 24
eval:
  steps: 6
  logging_steps: 1
  do_predict: false
output:
  save_best: true
  checkpoint_every: 4
`, testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model"), testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13"),
		kind, map[string]string{"mezo": "2e-3", "ft": "1e-3"}[kind])
	path := filepath.Join(dir, kind+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitLines waits until the run directory's metrics.jsonl has at least n
// lines and a checkpoint exists.
func waitLines(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
		if _, err := os.Stat(filepath.Join(dir, "checkpoint.safetensors")); err == nil && bytes.Count(b, []byte("\n")) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: no checkpoint and %d metrics lines within two minutes", dir, n)
}

// sameRun compares two run directories as the resume acceptance asks:
// metrics.jsonl line for line (elapsed_s aside), result.json (timings,
// memory and the output directory aside), the final model bit for bit.
func sameRun(t *testing.T, a, b string) {
	t.Helper()
	lines := func(dir string) []map[string]any {
		raw, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%s: metrics line %q: %v", dir, l, err)
			}
			delete(m, "elapsed_s")
			out = append(out, m)
		}
		return out
	}
	la, lb := lines(a), lines(b)
	if len(la) != len(lb) {
		t.Errorf("metrics.jsonl: %d lines uninterrupted, %d resumed", len(la), len(lb))
	}
	for i := 0; i < min(len(la), len(lb)); i++ {
		if !reflect.DeepEqual(la[i], lb[i]) {
			t.Errorf("metrics.jsonl line %d: uninterrupted %v, resumed %v", i+1, la[i], lb[i])
			break
		}
	}
	result := func(dir string) map[string]any {
		raw, err := os.ReadFile(filepath.Join(dir, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"elapsed_s", "median_step_s", "peak_rss_bytes", "peak_memory_bytes"} {
			delete(m, k)
		}
		delete(m["recipe"].(map[string]any)["output"].(map[string]any), "dir")
		return m
	}
	if ra, rb := result(a), result(b); !reflect.DeepEqual(ra, rb) {
		t.Errorf("result.json differs:\nuninterrupted %v\nresumed       %v", ra, rb)
	}
	ma, _ := os.ReadFile(filepath.Join(a, "best.safetensors"))
	mb, _ := os.ReadFile(filepath.Join(b, "best.safetensors"))
	if len(ma) == 0 || !bytes.Equal(ma, mb) {
		t.Errorf("final models differ (%d and %d bytes)", len(ma), len(mb))
	}
}

// TestResumeAfterKill: a MeZO run killed with SIGKILL between two
// checkpoints, with a half-written checkpoint left beside the last good one
// (as a kill during the write leaves it), resumes into exactly the
// uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	dir := t.TempDir()
	rec := resumeRecipe(t, dir, "mezo")
	full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
	childRun(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+full)
	cmd := child(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+cut)
	waitLines(t, cut, 11) // past the checkpoint at step 8, before the one at 12
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(cut, "result.json")); err == nil {
		t.Fatal("the run finished before it was killed: the test needs a slower run or an earlier kill")
	}
	if err := os.WriteFile(filepath.Join(cut, ".checkpoint.safetensors.tmp123"), []byte("half a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	childRun(t, "--threads", "1", "run", "--resume", cut, "--quiet")
	sameRun(t, full, cut)
}

// TestResumeAfterKillInCheckpoint: a MeZO run killed while it writes the
// checkpoint of step 12 (the test hook MEZO_TEST_KILL_IN_CHECKPOINT makes
// the child SIGKILL itself with the temporary file half written) keeps the
// checkpoint of step 8, and resumes from it into exactly the uninterrupted
// run.
func TestResumeAfterKillInCheckpoint(t *testing.T) {
	dir := t.TempDir()
	rec := resumeRecipe(t, dir, "mezo")
	full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
	childRun(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+full)
	cmd := childEnv(t, []string{"MEZO_TEST_KILL_IN_CHECKPOINT=12"}, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+cut)
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed in its checkpoint write: %v\n%s", err, cmd.Stdout.(*bytes.Buffer).String())
	}
	tmps, _ := filepath.Glob(filepath.Join(cut, ".checkpoint.safetensors.tmp*"))
	if len(tmps) != 1 {
		t.Fatalf("want the half-written checkpoint left beside the good one, found %v", tmps)
	}
	childRun(t, "--threads", "1", "run", "--resume", cut, "--quiet")
	sameRun(t, full, cut)
}

// TestResumeFineTuneAfterKill: a fine-tuning run (AdamW moments and step
// counts, dropout masks from the global generator, the linear schedule)
// killed with SIGKILL between two checkpoints resumes into exactly the
// uninterrupted run.
func TestResumeFineTuneAfterKill(t *testing.T) {
	dir := t.TempDir()
	rec := resumeRecipe(t, dir, "ft")
	full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
	childRun(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+full)
	cmd := child(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+cut)
	waitLines(t, cut, 11) // past the checkpoint at step 8, before the one at 12
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(cut, "result.json")); err == nil {
		t.Fatal("the run finished before it was killed: the test needs a slower run or an earlier kill")
	}
	childRun(t, "--threads", "1", "run", "--resume", cut, "--quiet")
	sameRun(t, full, cut)
}

// TestResumeAfterTerm: a run stopped with SIGTERM saves a checkpoint, says
// so, and resumes into exactly the uninterrupted run. It is a MeZO run: a
// fine-tuning run is not yet bit-reproducible even without interruption
// (its backward pass flips between two last-bit results from run to run,
// within one process too), so its resume cannot be compared bit for bit.
func TestResumeAfterTerm(t *testing.T) {
	dir := t.TempDir()
	rec := resumeRecipe(t, dir, "mezo")
	full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
	childRun(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+full)
	cmd := child(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+cut)
	waitLines(t, cut, 7)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	out := cmd.Stdout.(*bytes.Buffer).String()
	if err == nil || !strings.Contains(out, "checkpoint saved") || !strings.Contains(out, "--resume") {
		t.Fatalf("SIGTERM: exit %v, output:\n%s", err, out)
	}
	childRun(t, "--threads", "1", "run", rec, "--resume", "--quiet", "--set", "output.dir="+cut)
	sameRun(t, full, cut)
}

// TestResumeLPMeZOAfterTerm: an LP-MeZO run (method.from_linearhead)
// stopped with SIGTERM resumes into exactly the uninterrupted run: the
// resumed run probes again from the initial model, then the checkpoint
// restores the trained tensors and the random streams; its metrics.jsonl
// holds the probe once.
func TestResumeLPMeZOAfterTerm(t *testing.T) {
	dir := t.TempDir()
	rec := resumeRecipe(t, dir, "mezo")
	full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
	flh := []string{"--set", "method.from_linearhead=true"}
	childRun(t, append([]string{"--threads", "1", "run", rec, "--quiet", "--set", "output.dir=" + full}, flh...)...)
	cmd := child(t, append([]string{"--threads", "1", "run", rec, "--quiet", "--set", "output.dir=" + cut}, flh...)...)
	waitLines(t, cut, 8)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	out := cmd.Stdout.(*bytes.Buffer).String()
	if err == nil || !strings.Contains(out, "checkpoint saved") {
		t.Fatalf("SIGTERM: exit %v, output:\n%s", err, out)
	}
	childRun(t, append([]string{"--threads", "1", "run", rec, "--resume", "--quiet", "--set", "output.dir=" + cut}, flh...)...)
	sameRun(t, full, cut)
	raw, err := os.ReadFile(filepath.Join(cut, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), `"kind":"probe"`); n != 1 {
		t.Errorf("metrics.jsonl holds %d probe lines, want 1", n)
	}
}

// TestResumeRefusals: a changed learning rate or task is refused naming the
// field, and a corrupted checkpoint is refused with nothing in the run
// directory changed.
func TestResumeRefusals(t *testing.T) {
	dir := t.TempDir()
	rec := resumeRecipe(t, dir, "mezo")
	run := filepath.Join(dir, "run")
	childRun(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+run, "--set", "optim.max_steps=4")
	for _, c := range []struct{ set, field string }{
		{"optim.lr=1e-2", "optim.lr"},
		{"task.name=sst-5", "task.name"},
	} {
		_, err := runApp(t, "--threads", "1", "run", rec, "--resume", "--quiet", "--set", "output.dir="+run, "--set", c.set)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("--resume with %s: %v, want an error naming %s", c.set, err, c.field)
		}
	}
	before := map[string][]byte{}
	for _, f := range []string{"metrics.jsonl", "result.json", "best.safetensors", "recipe.yaml"} {
		before[f], _ = os.ReadFile(filepath.Join(run, f))
	}
	ck := filepath.Join(run, "checkpoint.safetensors")
	raw, _ := os.ReadFile(ck)
	if len(raw) < 100 {
		t.Fatalf("no checkpoint written at the end of the run (%d bytes)", len(raw))
	}
	copy(raw[8:], bytes.Repeat([]byte{'#'}, 40)) // break the header
	os.WriteFile(ck, raw, 0o644)
	_, err := runApp(t, "--threads", "1", "run", "--resume", run, "--quiet")
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("a corrupted checkpoint: %v, want a checkpoint error", err)
	}
	for f, b := range before {
		if after, _ := os.ReadFile(filepath.Join(run, f)); !bytes.Equal(after, b) {
			t.Errorf("%s changed although the resume was refused", f)
		}
	}
}

// TestResumeTrainerPathsAfterKillInCheckpoint: trainer-optimizer ZO runs
// killed while writing the checkpoint of step 12 resume from step 8 into
// exactly the uninterrupted run. param-norm computes d_c once, at step 1
// (no recompute_norms), so the resumed run must take d_c from the
// checkpoint, not recompute it from θ_8. accumulation runs ZO-Adam with two
// micro-batches of 6 per update (six batches an epoch, three updates), so
// step 8's checkpoint sits inside an epoch and the resumed run must start
// its next window at the right micro-batch, with the optimizer state, the
// linear schedule and the seed stream where they were.
func TestResumeTrainerPathsAfterKillInCheckpoint(t *testing.T) {
	for _, c := range []struct{ name, method, optim string }{
		{"param-norm", "  efficient: false\n  trainer_optim: true\n  zo_variant: param_norm\n",
			"  name: sgd\n  schedule: constant\n  lr: 1e-4\n  batch_size: 12\n"},
		{"accumulation", "  trainer_optim: true\n",
			"  name: adamw\n  schedule: linear\n  lr: 1e-3\n  batch_size: 6\n  gradient_accumulation_steps: 2\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			y := fmt.Sprintf("model:\n  path: %q\ntask:\n  name: SST-2\n  data_dir: %q\nmethod:\n  kind: mezo\n%soptim:\n%s  max_steps: 24\n"+
				"eval:\n  steps: 6\n  logging_steps: 1\n  do_predict: false\noutput:\n  save_best: true\n  checkpoint_every: 4\n",
				testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model"), testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13"),
				c.method, c.optim)
			rec := filepath.Join(dir, c.name+".yaml")
			if err := os.WriteFile(rec, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			full, cut := filepath.Join(dir, "full"), filepath.Join(dir, "cut")
			childRun(t, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+full)
			cmd := childEnv(t, []string{"MEZO_TEST_KILL_IN_CHECKPOINT=12"}, "--threads", "1", "run", rec, "--quiet", "--set", "output.dir="+cut)
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed in its checkpoint write: %v\n%s", err, cmd.Stdout.(*bytes.Buffer).String())
			}
			childRun(t, "--threads", "1", "run", "--resume", cut, "--quiet")
			sameRun(t, full, cut)
		})
	}
}
