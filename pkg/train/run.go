package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/atomicfile"
	"github.com/gomezo/gomezo/pkg/envinfo"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// The files of a run directory.
const (
	RecipeFile  = "recipe.yaml"   // the resolved recipe
	MetricsFile = "metrics.jsonl" // one JSON object per line: train and eval
	ResultFile  = "result.json"   // the outcome
	BestFile    = "best.safetensors"
	FinalFile   = "final.safetensors" // the model as training left it (output.save_final)
)

// RunOptions control Run.
type RunOptions struct {
	// Overwrite allows a run directory that already holds files.
	Overwrite bool
	// Log receives one line per training log entry and evaluation (nil:
	// silent).
	Log io.Writer
	// Teacher forces recorded values (reference replays); nil for runs.
	Teacher *Teacher
	// Hooks are called besides the run's own outputs.
	Hooks Hooks
	// Resume continues the interrupted run in the recipe's output.dir from
	// its checkpoint; the recipe must equal the one the run started with
	// but for the budget, the output and the thread options.
	Resume bool
	// Notes receives one-off status lines that are not log entries (the
	// pre-training of model.pretrain); nil: silent.
	Notes io.Writer
	// Stop is polled after every step (a signal handler's flag): when it
	// reports true the run saves a checkpoint and returns an error wrapping
	// ErrInterrupted.
	Stop func() bool
}

// Result is result.json.
type Result struct {
	Name     string `json:"name"`
	Method   string `json:"method"`
	Task     string `json:"task"`
	BestStep *int   `json:"best_step"`
	// Probe is the linear probe (method.kind lp, method.from_linearhead).
	Probe map[string]any `json:"probe,omitempty"`
	// DevAtStart is dev before training (eval.at_start).
	DevAtStart map[string]any `json:"dev_at_start,omitempty"`
	Dev        map[string]any `json:"dev,omitempty"`
	Test       map[string]any `json:"test,omitempty"`
	StoppedBy  string         `json:"stopped_by,omitempty"`
	GlobalStep int            `json:"global_step"`
	Forwards   int            `json:"forward_passes"`
	// TrainedSet says in words which parameters the run trained;
	// TrainedParameters names them.
	TrainedSet        string         `json:"trained_set,omitempty"`
	TrainedParameters []string       `json:"trained_parameters,omitempty"`
	Recipe            map[string]any `json:"recipe"`
	Versions          struct {
		Gomezo   string `json:"gomezo"`
		Libtorch string `json:"libtorch"`
	} `json:"versions"`
	Device          string  `json:"device"`
	PeakMemoryBytes int64   `json:"peak_memory_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	MedianStepS     float64 `json:"median_step_s"`
	ElapsedS        float64 `json:"elapsed_s"`
}

// CheckRunDir refuses a run directory that holds files unless overwrite.
func CheckRunDir(dir string, overwrite bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output.dir: %w", err)
	}
	if len(entries) > 0 && !overwrite {
		return fmt.Errorf("output.dir: %s already holds a run (%d files); pass --overwrite to replace it, or set output.dir", dir, len(entries))
	}
	return nil
}

// Run executes a recipe end to end and writes its run directory:
// recipe.yaml, metrics.jsonl, result.json and, with output.save_best, the
// best model in safetensors. Every file but the line-by-line metrics.jsonl
// is written atomically.
func Run(r *recipe.Recipe, o RunOptions) (*Result, error) {
	start := time.Now()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	dir := r.Output.Dir
	if o.Resume {
		if err := checkResumable(dir, r); err != nil {
			return nil, err
		}
	} else if err := CheckRunDir(dir, o.Overwrite || r.Output.Overwrite); err != nil {
		return nil, err
	}
	s, err := NewSessionNotes(r, o.Notes)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var resume *Checkpoint
	if o.Resume {
		dt, _ := torch.ParseDType(string(r.Model.DType))
		if resume, err = ReadCheckpoint(filepath.Join(dir, CheckpointFile), s.Names, s.Device, dt); err != nil {
			return nil, fmt.Errorf("--resume: %w (nothing in %s was changed)", err, dir)
		}
		defer resume.Close()
	}
	if !o.Resume && (o.Overwrite || r.Output.Overwrite) {
		for _, f := range []string{RecipeFile, MetricsFile, ResultFile, BestFile, FinalFile, CheckpointFile} {
			os.Remove(filepath.Join(dir, f))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output.dir: %w", err)
	}
	y, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, RecipeFile), y); err != nil {
		return nil, err
	}
	mpath := filepath.Join(dir, MetricsFile)
	var mf *os.File
	if resume != nil {
		// Continue metrics.jsonl from where the checkpoint left it: lines
		// written after the checkpoint are written again by the resumed run.
		if err := os.Truncate(mpath, resume.MetricsOffset); err != nil {
			return nil, fmt.Errorf("--resume: %w", err)
		}
		mf, err = os.OpenFile(mpath, os.O_WRONLY|os.O_APPEND, 0o644)
	} else {
		mf, err = os.Create(mpath)
	}
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	ml := &metricsLog{f: mf, w: bufio.NewWriter(mf)}
	hooks := Hooks{
		Step: o.Hooks.Step,
		Log: func(l LogRecord) {
			ml.train(r.Method.Kind, l)
			if o.Log != nil {
				if r.Method.Kind == recipe.MeZO {
					fmt.Fprintf(o.Log, "step %d: ℓ+ %.6f ℓ− %.6f g %.4g lr %g forwards %d (%.1f s)\n", l.Step, l.LossPlus, l.LossMinus, l.ProjGrad, l.LR, l.Forwards, l.Elapsed)
				} else {
					fmt.Fprintf(o.Log, "step %d: loss %.6f grad norm %.4g lr %g (%.1f s)\n", l.Step, l.Loss, l.GradNorm, l.LR, l.Elapsed)
				}
			}
			if o.Hooks.Log != nil {
				o.Hooks.Log(l)
			}
		},
		Probe: func(p *ProbeRecord, s *Session) {
			ml.probe(p)
			if o.Log != nil {
				fmt.Fprintf(o.Log, "linear probe: C %g, training accuracy %.4f on %d examples, written into the head\n", p.Fit.C, p.TrainAccuracy, len(p.Labels))
			}
			if o.Hooks.Probe != nil {
				o.Hooks.Probe(p, s)
			}
		},
		Eval: func(ev *EvalRecord, s *Session) {
			ml.eval(ev)
			if o.Log != nil {
				fmt.Fprintf(o.Log, "eval %s at step %d: loss %.6f, %s %.4f (%d/%d)%s\n", ev.Split, ev.Step, ev.Loss, ev.ObjectiveName,
					ev.Objective, ev.Correct, len(ev.Labels), map[bool]string{true: " [final]", false: ""}[ev.Final])
			}
			if o.Hooks.Eval != nil {
				o.Hooks.Eval(ev, s)
			}
		},
	}
	if r.Method.Kind != recipe.ZeroShot && o.Log != nil {
		fmt.Fprintf(o.Log, "training %d of %d parameter tensors (%s) with %s\n", len(s.Names), s.Net.Params().Len(), trainedSet(s), r.Method.Kind)
	}
	save := func(c *Checkpoint) error {
		if err := ml.flush(); err != nil {
			return err
		}
		off, err := mf.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		c.MetricsOffset = off
		return WriteCheckpoint(filepath.Join(dir, CheckpointFile), c, s.Names)
	}
	var trained func() error
	if r.Output.SaveFinal {
		trained = func() error { return s.Net.Save(filepath.Join(dir, FinalFile), nil) }
	}
	out, err := LoopWith(s, hooks, LoopOptions{Teacher: o.Teacher, Resume: resume, Save: save,
		CheckpointEvery: r.Output.CheckpointEvery, Stop: o.Stop, Trained: trained})
	if ferr := ml.flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, ErrInterrupted) {
		return nil, fmt.Errorf("%w at step %d: checkpoint saved in %s; continue with: mezo run --resume %s", err, out.GlobalStep, dir, dir)
	}
	if err != nil {
		return nil, err
	}
	if r.Output.SaveBest {
		if err := s.Net.Save(filepath.Join(dir, BestFile), map[string]string{"gomezo_best_step": fmt.Sprint(out.BestStep)}); err != nil {
			return nil, err
		}
	}
	res := &Result{Name: r.Name, Method: string(r.Method.Kind), Task: r.Task.Name, StoppedBy: out.StoppedBy,
		GlobalStep: out.GlobalStep, Forwards: out.Forwards, Device: s.Device.String(), MedianStepS: median(out.StepTimes)}
	if out.BestStep >= 0 {
		b := out.BestStep
		res.BestStep = &b
	}
	if r.Method.Kind != recipe.ZeroShot {
		res.TrainedSet, res.TrainedParameters = trainedSet(s), s.Names
	}
	res.DevAtStart = evalSummary(out.Start)
	res.Dev, res.Test = evalSummary(out.Dev), evalSummary(out.Test)
	res.Probe = probeSummary(out.Probe)
	if err := yaml.Unmarshal(y, &res.Recipe); err != nil {
		return nil, err
	}
	res.Versions.Gomezo = version()
	res.Versions.Libtorch, _ = torch.Version()
	res.PeakRSSBytes = envinfo.PeakRSS()
	res.PeakMemoryBytes = res.PeakRSSBytes
	if s.Device.CUDA {
		if _, p, err := torch.CUDAMemory(s.Device); err == nil {
			res.PeakMemoryBytes = p
		}
	}
	res.ElapsedS = time.Since(start).Seconds()
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	return res, atomicfile.WriteFile(filepath.Join(dir, ResultFile), append(js, '\n'))
}

// resumeFree are the recipe paths a resumed run may change.
var resumeFree = map[string]bool{"optim.max_steps": true, "optim.max_zo_forward_steps": true, "optim.epochs": true,
	"runtime.threads": true, "runtime.interop_threads": true}

// checkResumable checks that dir holds a resumable run of r: a checkpoint,
// and a recipe that differs from r only in the budget, output and thread
// options. Differences are reported by field, all at once.
func checkResumable(dir string, r *recipe.Recipe) error {
	if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); err != nil {
		return fmt.Errorf("--resume: %s has no %s to resume from", dir, CheckpointFile)
	}
	old, err := recipe.Load(filepath.Join(dir, RecipeFile))
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	a, err := flatRecipe(old)
	if err != nil {
		return err
	}
	b, err := flatRecipe(r)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range sortedKeys(a, b) {
		if strings.HasPrefix(k, "output.") || k == "name" || k == "description" || resumeFree[k] {
			continue
		}
		if fmt.Sprint(a[k]) != fmt.Sprint(b[k]) {
			errs = append(errs, fmt.Errorf("--resume: %s is %v in the run's recipe and %v now; only the budget (optim.max_steps, optim.max_zo_forward_steps, optim.epochs), output.* and runtime threads may change", k, a[k], b[k]))
		}
	}
	return errors.Join(errs...)
}

// flatRecipe maps every YAML path of r to its value.
func flatRecipe(r *recipe.Recipe) (map[string]any, error) {
	y, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(y, &m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if mm, ok := v.(map[string]any); ok {
			for k, x := range mm {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
			return
		}
		out[prefix] = v
	}
	walk("", m)
	return out, nil
}

func sortedKeys(ms ...map[string]any) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// trainedSet says in words which parameters a session trains.
func trainedSet(s *Session) string {
	if len(s.Names) == s.Net.Params().Len() {
		return "every parameter"
	}
	switch {
	case s.Recipe.Method.Kind == recipe.LP:
		return "the head the probe writes"
	case s.Recipe.PEFT.Kind != recipe.PEFTNone && s.Recipe.PEFT.Kind != "":
		return string(s.Recipe.PEFT.Kind) + "'s set"
	case s.Model == nil:
		return "all but the frozen ones"
	case s.Recipe.Model.Head == recipe.HeadClassification && s.Model.Opts.Head == roberta.Prompt:
		return "all but the unused pooler and LM head"
	}
	return "all but the unused pooler and classifier"
}

// evalSummary is an evaluation as result.json and metrics.jsonl hold it.
func evalSummary(ev *EvalRecord) map[string]any {
	if ev == nil {
		return nil
	}
	m := map[string]any{"loss": ev.Loss, "objective": ev.Objective, "objective_name": ev.ObjectiveName,
		"correct": ev.Correct, "examples": len(ev.Labels), "step": ev.Step}
	for _, x := range ev.Metrics {
		m[x.Name] = x.Value
	}
	return m
}

// metricsLog writes metrics.jsonl: one complete line per write, flushed
// and synced at every evaluation and at the end.
type metricsLog struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func (m *metricsLog) line(v map[string]any) {
	if m.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		m.err = err
		return
	}
	if _, err := m.w.Write(append(b, '\n')); err != nil {
		m.err = err
	}
}

func (m *metricsLog) train(kind recipe.Kind, l LogRecord) {
	v := map[string]any{"kind": "train", "step": l.Step, "lr": l.LR, "elapsed_s": l.Elapsed}
	if kind == recipe.MeZO {
		v["seed"], v["loss_plus"], v["loss_minus"], v["projected_grad"], v["forward_passes"] = l.Seed, l.LossPlus, l.LossMinus, l.ProjGrad, l.Forwards
	} else {
		v["loss"], v["grad_norm"] = l.Loss, l.GradNorm
	}
	m.line(v)
}

func (m *metricsLog) probe(p *ProbeRecord) {
	v := probeSummary(p)
	v["kind"] = "probe"
	m.line(v)
	if m.err == nil {
		m.err = m.flush()
	}
}

func (m *metricsLog) eval(ev *EvalRecord) {
	v := evalSummary(ev)
	v["kind"], v["split"], v["final"] = "eval", ev.Split, ev.Final
	m.line(v)
	if m.err == nil {
		m.err = m.flush()
	}
}

func (m *metricsLog) flush() error {
	if m.err != nil {
		return m.err
	}
	if err := m.w.Flush(); err != nil {
		return err
	}
	return m.f.Sync()
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return bi.Main.Version + " (" + s.Value + ")"
			}
		}
		return bi.Main.Version
	}
	return "unknown"
}
