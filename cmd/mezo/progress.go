package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// isTerminal reports whether w is a terminal (then `mezo run` draws a
// progress bar instead of log lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressHooks draws a run's progress on a terminal with
// schollz/progressbar (a maintained bar with rate and ETA, which saves us
// writing terminal control code): steps, forward passes, the last ℓ+ (or
// fine-tuning loss), the last dev metric, steps/s and the time left.
// Evaluation lines are printed above the bar.
func progressHooks(w io.Writer, r *recipe.Recipe) (train.Hooks, func()) {
	max := int64(r.Optim.MaxSteps)
	if max <= 0 || r.Method.Kind == recipe.LP { // lp: no steps, the probe then the evaluations
		max = -1 // unknown: a spinner
	}
	bar := progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(string(r.Method.Kind)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
	dev := "dev -"
	h := train.Hooks{
		Step: func(s train.StepRecord) {
			loss := fmt.Sprintf("ℓ+ %.4f", s.LossPlus)
			if r.Method.Kind == recipe.FT {
				loss = fmt.Sprintf("loss %.4f", s.Loss)
			}
			bar.Describe(fmt.Sprintf("%s fwd %d %s %s", r.Method.Kind, s.Forwards, loss, dev))
			bar.Set(s.Step)
		},
		Probe: func(p *train.ProbeRecord, _ *train.Session) {
			bar.Clear()
			fmt.Fprintf(w, "\rlinear probe: C %g, training accuracy %.4f on %d examples, written into the head\n", p.Fit.C, p.TrainAccuracy, len(p.Labels))
		},
		Eval: func(ev *train.EvalRecord, _ *train.Session) {
			dev = fmt.Sprintf("%s %s %.4f", ev.Split, ev.ObjectiveName, ev.Objective)
			bar.Clear()
			fmt.Fprintf(w, "\reval %s at step %d: loss %.6f, %s %.4f (%d/%d)\n", ev.Split, ev.Step, ev.Loss, ev.ObjectiveName,
				ev.Objective, ev.Correct, len(ev.Labels))
		},
	}
	return h, func() { bar.Finish(); fmt.Fprintln(w) }
}
