package train_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/recipe"
	"github.com/gomezo/gomezo/pkg/train"
)

// tinyRecipe is a MeZO recipe on the reference-run fixture's model and the
// SST-2 split it was run on.
func tinyRecipe(t *testing.T, sets ...string) *recipe.Recipe {
	t.Helper()
	y := "model:\n  path: " + testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model") +
		"\ntask:\n  name: SST-2\n  data_dir: " + testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13") +
		"\nmethod:\n  kind: mezo\noptim:\n  batch_size: 16\n  max_steps: 4\neval:\n  steps: 2\n  do_predict: false\noutput:\n  dir: " + t.TempDir() + "\n"
	r, err := recipe.Parse("tiny.yaml", []byte(y), sets...)
	reftest.Must(t, err)
	return r
}

// TestNonFiniteLossStops: a learning rate that blows the weights up stops
// the run with an error that says what went non-finite, at which step and
// with which seed.
func TestNonFiniteLossStops(t *testing.T) {
	s, err := train.NewSession(tinyRecipe(t, "optim.lr=1e30"))
	reftest.Must(t, err)
	defer s.Close()
	_, err = train.Loop(s, train.Hooks{}, nil)
	if err == nil {
		t.Fatal("a run whose loss went non-finite did not stop")
	}
	for _, want := range []string{"step", "seed", "loss"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(err.Error(), "NaN") && !strings.Contains(err.Error(), "Inf") {
		t.Errorf("error %q does not say NaN or Inf", err)
	}
}

// TestUnsupportedFieldsRefused: fields the loop cannot honour are errors
// naming each, and why, not silently ignored; gradient accumulation, which
// it now runs where the reference does, is accepted there.
func TestUnsupportedFieldsRefused(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want []string
	}{
		// The inline MeZO update has no gradient buffer (the reference asserts).
		{[]string{"method.kind=mezo", "optim.gradient_accumulation_steps=2"}, []string{"optim.gradient_accumulation_steps", "trainer_optim", "no gradient buffer"}},
		{[]string{"method.kind=mezo", "method.efficient=false", "optim.gradient_accumulation_steps=2"}, []string{"optim.gradient_accumulation_steps"}},
		{[]string{"method.efficient=false", "method.trainer_optim=true", "method.zo_variant=grad_norm", "method.norm_running_update=true"},
			[]string{"method.norm_running_update", "zo_by_layer", "pc_rnd_layer", "one projected gradient"}},
	} {
		// Refused when the recipe is read (validation) or when the run is
		// set up (the loop's own limits).
		err := refusal(t, c.sets...)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want one saying %q", c.sets, err, w)
			}
		}
	}
	for _, sets := range [][]string{
		{"method.kind=ft", "optim.gradient_accumulation_steps=2"},
		{"method.trainer_optim=true", "optim.gradient_accumulation_steps=2"},
	} {
		s, err := train.NewSession(tinyRecipe(t, sets...))
		if err != nil {
			t.Errorf("%v: %v", sets, err)
			continue
		}
		s.Close()
	}
}

// refusal is the error of reading tinyRecipe with sets, else of
// NewSession on it.
func refusal(t *testing.T, sets ...string) error {
	t.Helper()
	y := "model:\n  path: " + testenv.SharedPath(t, "fixtures", "mezo-reference-run", "model") +
		"\ntask:\n  name: SST-2\n  data_dir: " + testenv.SharedPath(t, "data", "k-shot", "SST-2", "16-13") +
		"\nmethod:\n  kind: mezo\noutput:\n  dir: " + t.TempDir() + "\n"
	r, err := recipe.Parse("tiny.yaml", []byte(y), sets...)
	if err != nil {
		return err
	}
	s, err := train.NewSession(r)
	if err == nil {
		s.Close()
	}
	return err
}

// TestSaveFinalAndBest: output.save_final keeps the model as the last step
// left it, output.save_best the best dev model that the final evaluations
// use; with the best step before the last they differ.
func TestSaveFinalAndBest(t *testing.T) {
	r := tinyRecipe(t, "optim.max_steps=6", "eval.steps=2", "optim.lr=5e-3", "output.save_best=true", "output.save_final=true")
	res, err := train.Run(r, train.RunOptions{})
	reftest.Must(t, err)
	best, err := os.ReadFile(filepath.Join(r.Output.Dir, train.BestFile))
	reftest.Must(t, err)
	final, err := os.ReadFile(filepath.Join(r.Output.Dir, train.FinalFile))
	reftest.Must(t, err)
	if res.BestStep == nil {
		t.Fatal("no best step")
	}
	t.Logf("best step %d of %d", *res.BestStep, res.GlobalStep)
	if same := string(best) == string(final); same != (*res.BestStep == res.GlobalStep) {
		t.Errorf("best step %d of %d, yet best and final files equal: %v", *res.BestStep, res.GlobalStep, same)
	}
}
