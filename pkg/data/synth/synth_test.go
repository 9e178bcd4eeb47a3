package synth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// TestCommittedTaskIsGenerated: the task files under recipes/quickstart/data
// are exactly what Task(TaskSeed, TaskSizes) writes, so they can be
// regenerated (`mezo data quickstart`) and were not edited by hand.
func TestCommittedTaskIsGenerated(t *testing.T) {
	files, err := Task(TaskSeed, TaskSizes)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testenv.RepoRoot(t), TaskDir)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from Task(%d, %+v): regenerate it with `mezo data quickstart`", name, TaskSeed, TaskSizes)
		}
	}
}

// TestTaskReadsAsSST2: the loader reads the generated task as SST-2 with
// the promised sizes, balanced labels, no repeated sentence and no label
// word inside a review.
func TestTaskReadsAsSST2(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTask(dir, 7, TaskSizes); err != nil {
		t.Fatal(err)
	}
	task, err := lmbff.LookupTask("SST-2")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sp := range []struct {
		split lmbff.Split
		n     int
	}{{lmbff.SplitTrain, TaskSizes.Train}, {lmbff.SplitDev, TaskSizes.Dev}, {lmbff.SplitTest, TaskSizes.Test}} {
		ex, err := task.Load(dir, sp.split)
		if err != nil {
			t.Fatal(err)
		}
		if len(ex) != sp.n {
			t.Fatalf("%v: %d examples, want %d", sp.split, len(ex), sp.n)
		}
		count := map[string]int{}
		for _, e := range ex {
			count[e.Label]++
			s := e.TextA
			if seen[s] {
				t.Errorf("%v: %q repeats", sp.split, s)
			}
			seen[s] = true
			for _, w := range strings.Fields(s) {
				if w == PositiveWord || w == NegativeWord {
					t.Errorf("%v: label word %q inside review %q", sp.split, w, s)
				}
			}
			pol := map[string]bool{}
			for _, w := range strings.Fields(s) {
				for p, adjs := range adjectives {
					for _, a := range adjs {
						if a == w {
							pol[[]string{"0", "1"}[p]] = true
						}
					}
				}
			}
			if len(pol) != 1 || !pol[e.Label] {
				t.Errorf("%v: review %q labelled %s has adjectives of polarity %v", sp.split, s, e.Label, pol)
			}
		}
		if count["0"] != sp.n/2 || count["1"] != sp.n/2 {
			t.Errorf("%v: labels %v, want %d of each", sp.split, count, sp.n/2)
		}
	}
}

// TestCorpus: the pre-training lines end in the prompt with the review's
// cue word at the asked-for rate, else a label word at the asked-for rate,
// independently of the review's polarity.
func TestCorpus(t *testing.T) {
	lines := Corpus(3, 8000, 0.4, 0.7)
	var cue, cueRight, great, label int
	for _, l := range lines {
		review, w, ok := strings.Cut(l, " . It was ")
		if !ok {
			t.Fatalf("line %q does not end in the prompt", l)
		}
		pos := false
		for _, a := range adjectives[1] {
			pos = pos || strings.Contains(" "+review+" ", " "+a+" ")
		}
		switch w {
		case "good.", "bad.":
			cue++
			if (w == "good.") == pos {
				cueRight++
			}
		case "great.", "terrible.":
			label++
			if w == "great." {
				great++
			}
		default:
			t.Fatalf("line %q ends in %q", l, w)
		}
	}
	if f := float64(cue) / float64(len(lines)); f < 0.38 || f > 0.42 {
		t.Errorf("%.3f of lines end in a cue word, want about 0.4", f)
	}
	if cueRight != cue {
		t.Errorf("%d of %d cue words disagree with their review", cue-cueRight, cue)
	}
	if f := float64(great) / float64(label); f < 0.67 || f > 0.73 {
		t.Errorf("%.3f of label-word lines end in great, want about 0.7", f)
	}
	if a, b := Corpus(3, 10, 0.4, 0.7), Corpus(3, 10, 0.4, 0.7); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("Corpus is not a function of its seed")
	}
}
