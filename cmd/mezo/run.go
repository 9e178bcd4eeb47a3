package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// `mezo run RECIPE.yaml`: a whole run (MeZO, fine-tuning or zero-shot) from
// a recipe, written to its run directory.
func init() {
	register(&cli.Command{
		Name:  "run",
		Usage: "run a recipe: train (MeZO or fine-tuning) or evaluate zero-shot, writing metrics.jsonl and result.json",
		UsageText: "mezo run RECIPE.yaml [--set PATH=VALUE ...] [--dry-run] [--overwrite] [--device D] [--threads N]\n" +
			"   e.g. mezo run recipes/paper/mezo-SST-2-k16.yaml --set model.path=roberta-large --set task.data_dir=data/k-shot/SST-2/16-42",
		Flags: []cli.Flag{
			&setFlag{GenericFlag: cli.GenericFlag{Name: "set", Usage: "override a recipe field: `PATH=VALUE` on its YAML path (repeatable)"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the resolved recipe, the trainable parameters, the data sizes and the budget, then exit"},
			&cli.BoolFlag{Name: "overwrite", Usage: "replace an existing run directory"},
			&cli.StringFlag{Name: "device", Usage: "`DEVICE` to run on (cpu, cuda, cuda:N); overrides runtime.device"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar or log lines, only the summary"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the interrupted run in the recipe's output.dir (or give the run directory instead of a recipe)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("run: takes one recipe file", 2)
			}
			path := c.Args().First()
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				if !c.Bool("resume") {
					return fmt.Errorf("run: %s is a directory; give a recipe, or --resume to continue the run it holds", path)
				}
				// `mezo run --resume RUN_DIR`: the run's own recipe, its
				// output.dir pointing here.
				path = filepath.Join(path, train.RecipeFile)
			}
			var sets []string
			if v, ok := c.Generic("set").(*recipeSets); ok {
				sets = append(sets, *v...)
			}
			if d := c.String("device"); d != "" {
				sets = append(sets, "runtime.device="+d)
			}
			if c.Bool("resume") && filepath.Base(path) == train.RecipeFile {
				sets = append([]string{"output.dir=" + filepath.Dir(path)}, sets...)
			}
			r, err := recipe.Load(path, sets...)
			if err != nil {
				return err
			}
			if err := applyRecipeThreads(c, r); err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool("dry-run") {
				y, err := r.Marshal()
				if err != nil {
					return err
				}
				// Pre-training (model.pretrain) reports on stderr, so
				// stdout stays the recipe and the session.
				s, err := train.NewSessionNotes(r, c.App.ErrWriter)
				if err != nil {
					return err
				}
				defer s.Close()
				fmt.Fprintf(w, "# resolved recipe\n%s\n# session\n%s", y, s.Describe())
				return nil
			}
			o := train.RunOptions{Overwrite: c.Bool("overwrite"), Resume: c.Bool("resume"), Stop: stopOnSignal(c.App.ErrWriter)}
			if !c.Bool("quiet") {
				o.Notes = w
			}
			switch {
			case c.Bool("quiet"):
			case isTerminal(w):
				var done func()
				o.Hooks, done = progressHooks(w, r)
				defer done()
			default:
				o.Log = w // plain lines when stdout is not a terminal
			}
			res, err := train.Run(r, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "run %s: %s on %s, %d steps (%s), %d forward passes\n", res.Name, res.Method, res.Task, res.GlobalStep, orDash(res.StoppedBy), res.Forwards)
			if p := res.Probe; p != nil {
				fmt.Fprintf(w, "  probe: C %v, training accuracy %.4f (%v examples)\n", p["C"], p["train_accuracy"], p["examples"])
			}
			if res.TrainedSet != "" {
				fmt.Fprintf(w, "  trained: %s (%d tensors)\n", res.TrainedSet, len(res.TrainedParameters))
			}
			for _, sp := range []struct {
				name string
				m    map[string]any
			}{{"dev at step 0", res.DevAtStart}, {"dev", res.Dev}, {"test", res.Test}} {
				if sp.m != nil {
					fmt.Fprintf(w, "  %s: %s %.4f (%v/%v), loss %.6f\n", sp.name, sp.m["objective_name"], sp.m["objective"], sp.m["correct"], sp.m["examples"], sp.m["loss"])
				}
			}
			fmt.Fprintf(w, "  results in %s\n", filepath.Join(r.Output.Dir, train.ResultFile))
			return nil
		},
	})
	register(&cli.Command{
		Name:      "eval",
		Usage:     "evaluate a finished run's best model on dev or test",
		UsageText: "mezo eval RUN_DIR [--split dev|test] [--device D]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "split", Value: "test", Usage: "`SPLIT`: dev or test"},
			&cli.StringFlag{Name: "device", Usage: "`DEVICE` to run on; overrides the run's"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("eval: takes one run directory", 2)
			}
			dir := c.Args().First()
			best := filepath.Join(dir, train.BestFile)
			if _, err := os.Stat(best); err != nil {
				return fmt.Errorf("eval: %s has no %s (run with output.save_best: true)", dir, train.BestFile)
			}
			split := c.String("split")
			if split != "dev" && split != "test" {
				return fmt.Errorf("eval: --split %q: want dev or test", split)
			}
			sets := []string{"model.init_state=" + best, "eval.during_training=false",
				"eval.do_eval=" + fmt.Sprint(split == "dev"), "eval.do_predict=" + fmt.Sprint(split == "test")}
			if d := c.String("device"); d != "" {
				sets = append(sets, "runtime.device="+d)
			}
			r, err := recipe.Load(filepath.Join(dir, train.RecipeFile), sets...)
			if err != nil {
				return err
			}
			s, err := train.NewSession(r)
			if err != nil {
				return err
			}
			defer s.Close()
			ev, err := s.EvaluateSplit(split, 0)
			if err != nil {
				return err
			}
			out := map[string]any{"split": split, "loss": ev.Loss, "correct": ev.Correct, "examples": len(ev.Labels), "objective": ev.Objective}
			for _, m := range ev.Metrics {
				out[m.Name] = m.Value
			}
			return json.NewEncoder(c.App.Writer).Encode(out)
		},
	})
}

// stopOnSignal makes SIGINT and SIGTERM ask the run to save a checkpoint
// and stop after the step in progress; a second signal exits at once.
func stopOnSignal(w io.Writer) func() bool {
	var stop atomic.Bool
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		stop.Store(true)
		fmt.Fprintf(w, "mezo: %v: saving a checkpoint after this step (a second signal exits at once)\n", sig)
		<-ch
		fmt.Fprintln(w, "mezo: second signal: exiting without a checkpoint")
		os.Exit(130)
	}()
	return stop.Load
}

// applyRecipeThreads uses runtime.threads from the recipe when --threads
// was not given on the command line.
func applyRecipeThreads(c *cli.Context, r *recipe.Recipe) error {
	if r.Runtime.Threads > 0 && !c.IsSet("threads") {
		return torch.SetNumThreads(r.Runtime.Threads)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// recipeSets holds the --set overrides verbatim, one per flag. A
// StringSliceFlag would split each value at commas and trim spaces, so
// --set task.mapping={'0':'bad','1':'good'} became two overrides.
type recipeSets []string

func (s *recipeSets) Set(v string) error { *s = append(*s, v); return nil }
func (s *recipeSets) String() string     { return strings.Join(*s, " ") }

// setFlag is the repeatable --set flag. Each parse gets a fresh recipeSets:
// commands are built once, at init, and a GenericFlag's Value would
// otherwise keep the overrides of an earlier run in the same process.
type setFlag struct{ cli.GenericFlag }

func (f *setFlag) Apply(set *flag.FlagSet) error {
	f.Value = new(recipeSets)
	return f.GenericFlag.Apply(set)
}
