package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// CompareOptions configure Compare: our modes and the reference's, each
// measured in its own process, alternating, on the same weights.
type CompareOptions struct {
	Shape
	Steps   int // timed steps per process, after one warm-up step
	Threads int // intra-op threads on both sides
	Rounds  int // how many times each process runs (the medians are over rounds)
	// Self is the command that runs our executable (mezo), run as
	// `Self... --threads T bench ...`; Env is added to every process's
	// environment.
	Self []string
	Env  []string
	// Python and Script run the reference: Script is
	// bench/reference/reference_bench.py, Python an interpreter with torch.
	Python, Script string
	// Dir holds the model file both sides load (a temporary directory).
	Dir string
	// Log, when set, gets one line per finished process.
	Log io.Writer
}

// Side is one measured configuration: its name and the result of each
// round.
type Side struct {
	Name   string    `json:"name"`
	Rounds []*Result `json:"rounds"`
}

// median of f over the rounds.
func (s *Side) median(f func(*Result) float64) float64 {
	var v []float64
	for _, r := range s.Rounds {
		v = append(v, f(r))
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return math.NaN()
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// StepS is the median over rounds of each round's median step time.
func (s *Side) StepS() float64 { return s.median(func(r *Result) float64 { return r.MedianStepS }) }

// PeakRSS is the median over rounds of the peak resident set.
func (s *Side) PeakRSS() float64 {
	return s.median(func(r *Result) float64 { return float64(r.PeakRSSBytes) })
}

// Comparison is what Compare measured; Summary's fields are the targets of
// the performance issue.
type Comparison struct {
	Ours      map[string]*Side `json:"ours"`      // infer, mezo (philox), mezo-torch, ft
	Reference map[string]*Side `json:"reference"` // infer, mezo, ft
	// Summary's fields are at the top level of the JSON object.
	Summary
}

// Summary holds the ratios (times are medians over rounds of per-process
// medians; memory is peak RSS).
type Summary struct {
	// StepRatio is our default MeZO step (philox z, three passes) over the
	// reference's; StepRatioTorchZ the same with torch's z stream.
	StepRatio       float64 `json:"step_ratio"`
	StepRatioTorchZ float64 `json:"step_ratio_torch_z"`
	// StepOverForwards is our MeZO step over our two forward passes.
	StepOverForwards float64 `json:"step_over_forwards"`
	// StepOverOwnForwards is our MeZO step over twice the median forward
	// pass inside those same steps: the step's cost beyond its forwards
	// without the process-to-process spread of the forward's speed.
	StepOverOwnForwards float64 `json:"step_over_own_forwards"`
	// ForwardRatio is our two forward passes over the reference's.
	ForwardRatio float64 `json:"forward_ratio"`
	// FTStepRatio is our fine-tuning step over the reference's.
	FTStepRatio float64 `json:"ft_step_ratio"`
	// MemoryRatio is our MeZO peak over our inference peak; FTMemoryRatio
	// our FT peak over our MeZO peak; the Reference* ones the same for the
	// reference's processes.
	MemoryRatio          float64 `json:"memory_ratio"`
	FTMemoryRatio        float64 `json:"ft_memory_ratio"`
	ReferenceMemoryRatio float64 `json:"reference_memory_ratio"`
	ReferenceFTMemRatio  float64 `json:"reference_ft_memory_ratio"`
	// PeakRSSRatio is our MeZO peak over the reference's.
	PeakRSSRatio float64 `json:"peak_rss_ratio"`
	// InferLoss* are the first rounds' inference losses on the same
	// weights: they agree when both sides compute the same function.
	InferLossOurs      float64 `json:"infer_loss_ours"`
	InferLossReference float64 `json:"infer_loss_reference"`
	Threads            int     `json:"threads"`
	Rounds             int     `json:"rounds"`
}

// Compare writes the random model once (SaveModel, its own process), then
// runs, Rounds times, each of our modes and the reference's in its own
// process, ours and theirs alternating and the order flipped every round,
// and computes the ratios.
func Compare(o CompareOptions) (*Comparison, error) {
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	if o.Steps < 1 {
		return nil, fmt.Errorf("bench: --steps must be at least 1, got %d", o.Steps)
	}
	if o.Threads < 1 {
		return nil, fmt.Errorf("bench: --vs-reference needs --threads ≥ 1 (the same count on both sides), got %d", o.Threads)
	}
	if _, err := os.Stat(o.Script); err != nil {
		return nil, fmt.Errorf("bench: the reference script: %w (pass --reference-script)", err)
	}
	if _, err := exec.LookPath(o.Python); err != nil {
		return nil, fmt.Errorf("bench: the reference's interpreter %s: %w (install python3-torch, see bench/README.md)", o.Python, err)
	}
	model := filepath.Join(o.Dir, "bench-model.safetensors")
	shape := []string{"--hidden", itoa(o.Hidden), "--layers", itoa(o.Layers), "--heads", itoa(o.Heads), "--ffn", itoa(o.FFN),
		"--vocab", itoa(o.Vocab), "--batch", itoa(o.Batch), "--seq", itoa(o.Seq)}
	steps := []string{"--steps", itoa(o.Steps)}
	self := func(extra ...string) []string {
		argv := append(append([]string{}, o.Self...), "--threads", itoa(o.Threads), "bench")
		return append(append(argv, shape...), extra...)
	}
	if len(o.Self) == 0 {
		return nil, errors.New("bench: no command for our side")
	}
	if _, err := runProcess(o.Env, self("--save-model", model)...); err != nil {
		return nil, err
	}
	type config struct {
		ours bool
		name string
		argv []string
	}
	ref := func(mode string) []string {
		return append(append([]string{o.Python, o.Script, "--threads", itoa(o.Threads), "--mode", mode, "--model", model}, shape...), steps...)
	}
	ourCfg := func(mode string, extra ...string) []string {
		return self(append(append([]string{"--mode", mode, "--model", model, "--json"}, steps...), extra...)...)
	}
	pairs := [][2]config{
		{{true, "infer", ourCfg("infer")}, {false, "infer", ref("infer")}},
		{{true, "mezo", ourCfg("mezo", "--z", "philox")}, {false, "mezo", ref("mezo")}},
		{{true, "mezo-torch", ourCfg("mezo", "--z", "torch")}, {}},
		{{true, "ft", ourCfg("ft")}, {false, "ft", ref("ft")}},
	}
	c := &Comparison{Ours: map[string]*Side{}, Reference: map[string]*Side{}}
	for round := 0; round < o.Rounds; round++ {
		for _, p := range pairs {
			order := []config{p[0], p[1]}
			if round%2 == 1 {
				order[0], order[1] = order[1], order[0]
			}
			for _, cf := range order {
				if cf.argv == nil {
					continue
				}
				r, err := runProcess(o.Env, cf.argv...)
				if err != nil {
					return nil, err
				}
				sides, who := c.Reference, "reference"
				if cf.ours {
					sides, who = c.Ours, "ours"
				}
				if sides[cf.name] == nil {
					sides[cf.name] = &Side{Name: cf.name}
				}
				sides[cf.name].Rounds = append(sides[cf.name].Rounds, r)
				if o.Log != nil {
					fmt.Fprintf(o.Log, "round %d/%d  %-9s %-10s step %.3f s  peak RSS %.0f MB  loss %.6g\n", round+1, o.Rounds, who, cf.name,
						r.MedianStepS, float64(r.PeakRSSBytes)/1e6, r.Loss)
				}
			}
		}
	}
	s := &c.Summary
	s.Threads, s.Rounds = o.Threads, o.Rounds
	s.StepRatio = c.Ours["mezo"].StepS() / c.Reference["mezo"].StepS()
	s.StepRatioTorchZ = c.Ours["mezo-torch"].StepS() / c.Reference["mezo"].StepS()
	s.StepOverForwards = c.Ours["mezo"].StepS() / c.Ours["infer"].StepS()
	s.StepOverOwnForwards = c.Ours["mezo"].StepS() / (2 * c.Ours["mezo"].median(func(r *Result) float64 { return r.ForwardS }))
	s.ForwardRatio = c.Ours["infer"].StepS() / c.Reference["infer"].StepS()
	s.FTStepRatio = c.Ours["ft"].StepS() / c.Reference["ft"].StepS()
	s.MemoryRatio = c.Ours["mezo"].PeakRSS() / c.Ours["infer"].PeakRSS()
	s.FTMemoryRatio = c.Ours["ft"].PeakRSS() / c.Ours["mezo"].PeakRSS()
	s.ReferenceMemoryRatio = c.Reference["mezo"].PeakRSS() / c.Reference["infer"].PeakRSS()
	s.ReferenceFTMemRatio = c.Reference["ft"].PeakRSS() / c.Reference["mezo"].PeakRSS()
	s.PeakRSSRatio = c.Ours["mezo"].PeakRSS() / c.Reference["mezo"].PeakRSS()
	s.InferLossOurs = float64(c.Ours["infer"].Rounds[0].Loss)
	s.InferLossReference = float64(c.Reference["infer"].Rounds[0].Loss)
	return c, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// runProcess runs argv and parses the last line of its standard output as
// a Result; a failure says which command failed and what it printed.
func runProcess(env []string, argv ...string) (*Result, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s: %w\n%s", strings.Join(argv, " "), err, tail(errb.String()+out.String()))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if last == "" {
		return &Result{}, nil // --save-model prints nothing
	}
	var r Result
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		return nil, fmt.Errorf("bench: %s: the last line of its output is not a result: %w\n%s", strings.Join(argv, " "), err, tail(out.String()))
	}
	if r.MedianStepS <= 0 {
		return nil, errors.New("bench: " + strings.Join(argv, " ") + ": no step time in its result")
	}
	return &r, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// WriteTable writes c for people: one row per configuration, then the
// ratios.
func (c *Comparison) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "side\tmode\tstep (s)\tpeak RSS (MB)\tpass (s)\tpasses\tpass share\tloss\n")
	row := func(who string, s *Side) {
		if s == nil {
			return
		}
		r := s.Rounds[0]
		pass := "-"
		if r.PassesPerStep > 0 {
			pass = fmt.Sprintf("%.3f\t%d\t%.0f%%", s.median(func(r *Result) float64 { return r.PassS }), r.PassesPerStep,
				100*s.median(func(r *Result) float64 { return r.PassShare }))
		} else {
			pass += "\t-\t-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.0f\t%s\t%.6g\n", who, s.Name, s.StepS(), s.PeakRSS()/1e6, pass, r.Loss)
	}
	for _, n := range []string{"infer", "mezo", "mezo-torch", "ft"} {
		row("ours", c.Ours[n])
		row("reference", c.Reference[n])
	}
	s := c.Summary
	fmt.Fprintf(tw, "\nratio\tvalue\n")
	for _, kv := range []struct {
		k string
		v float64
	}{
		{"MeZO step / reference's (philox z)", s.StepRatio},
		{"MeZO step / reference's (torch z)", s.StepRatioTorchZ},
		{"MeZO step / our two forwards", s.StepOverForwards},
		{"MeZO step / its own two forwards", s.StepOverOwnForwards},
		{"two forwards / reference's", s.ForwardRatio},
		{"FT step / reference's", s.FTStepRatio},
		{"MeZO peak / inference peak", s.MemoryRatio},
		{"FT peak / MeZO peak", s.FTMemoryRatio},
		{"reference: MeZO peak / inference peak", s.ReferenceMemoryRatio},
		{"reference: FT peak / MeZO peak", s.ReferenceFTMemRatio},
		{"MeZO peak / reference's MeZO peak", s.PeakRSSRatio},
	} {
		fmt.Fprintf(tw, "%s\t%.3f\n", kv.k, kv.v)
	}
	fmt.Fprintf(tw, "inference loss, same weights\tours %.7g, reference %.7g\n", s.InferLossOurs, s.InferLossReference)
	fmt.Fprintf(tw, "threads, rounds\t%d, %d\n", s.Threads, s.Rounds)
	return tw.Flush()
}
