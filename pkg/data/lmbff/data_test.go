package lmbff

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// TestLoadSharedData reads every split of every k-shot directory in the
// shared data with its task's processor, and checks the row counts the data
// README gives.
func TestLoadSharedData(t *testing.T) {
	root := testenv.SharedPath(t, "data", "k-shot")
	want := map[string][3]int{ // train, dev, test (0: no file)
		"SST-2": {32, 32, 872}, "sst-5": {80, 80, 2210}, "trec": {96, 96, 500}, "RTE": {32, 32, 277},
		"MNLI": {48, 48, 0}, "SNLI": {48, 48, 0},
		"mr": {32, 32, 2000}, "cr": {32, 32, 2000}, "mpqa": {32, 32, 2000}, "subj": {32, 32, 2000},
	}
	for name, counts := range want {
		task, err := LookupTask(name)
		if err != nil {
			t.Fatal(err)
		}
		seeds, _ := filepath.Glob(filepath.Join(root, task.Name, "16-*"))
		if len(seeds) != 5 {
			t.Fatalf("%s: %d seed directories, want 5", name, len(seeds))
		}
		for _, dir := range seeds {
			for i, split := range []Split{SplitTrain, SplitDev, SplitTest} {
				path, _ := task.Path(dir, split)
				if _, err := os.Stat(path); err != nil && counts[i] == 0 {
					continue
				}
				ex, err := task.Load(dir, split)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				if len(ex) != counts[i] {
					t.Errorf("%s: %d examples, want %d", path, len(ex), counts[i])
				}
				perLabel := map[int]int{}
				for _, e := range ex {
					perLabel[e.LabelID]++
				}
				if split != SplitTest && len(perLabel) != len(task.Labels) {
					t.Errorf("%s: labels %v, want all %d", path, perLabel, len(task.Labels))
				}
			}
		}
	}
}
