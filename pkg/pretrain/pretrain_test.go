package pretrain

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
)

// TestEnsureTrainsCachesAndLoads: a short pre-training lowers the masked-LM
// loss, writes a model directory roberta.Load reads with a prompt head, and
// a second Ensure with the same settings returns the cached entry without
// training (its files untouched).
func TestEnsureTrainsCachesAndLoads(t *testing.T) {
	cache := t.TempDir()
	c := Config{Preset: "tiny", Steps: 300, BatchSize: 32, LR: 5e-3, Seed: 1, CacheDir: cache}
	dir, err := Ensure(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var info Info
	if err := readJSON(filepath.Join(dir, InfoFile), &info); err != nil {
		t.Fatal(err)
	}
	t.Logf("masked-LM loss %.3f → %.3f, held-out cue accuracy %.3f, in %.1f s", info.FirstLoss, info.LastLoss, info.CueAccuracy, info.Seconds)
	// A random model starts near ln(50265) = 10.8; the masked word is one
	// of four (good, bad, great, terrible), so the loss must fall below 2,
	// and the cue word must be right on held-out lines (chance: ½).
	if info.FirstLoss < 9 || info.LastLoss > 2 {
		t.Errorf("masked-LM loss %.3f → %.3f: want a start near 10.8 and an end below 2", info.FirstLoss, info.LastLoss)
	}
	if info.CueAccuracy < 0.9 {
		t.Errorf("held-out cue accuracy %.3f, want ≥ 0.9: the model does not carry the review's polarity to the mask", info.CueAccuracy)
	}
	st, err := os.Stat(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(filepath.Join(again, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if again != dir || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("second Ensure: %s (mtime %v), want the cached %s (mtime %v)", again, st2.ModTime(), dir, st.ModTime())
	}
	if other, err := Ensure(Config{Preset: "tiny", Steps: 1, BatchSize: 32, LR: 5e-3, Seed: 1, CacheDir: cache}, nil); err == nil && other == dir {
		t.Errorf("a different step count reused the entry %s", dir)
	}
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := roberta.Load(dir, "", roberta.Options{Head: roberta.Prompt, NumLabels: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.Hidden != cfg.HiddenSize || m.Config.Layers != 2 {
		t.Errorf("loaded %d layers of width %d, config says %d of %d", m.Config.Layers, m.Config.Hidden, cfg.NumHiddenLayers, cfg.HiddenSize)
	}
}

// TestConfigValidate names the bad fields.
func TestConfigValidate(t *testing.T) {
	err := Config{Preset: "huge", Steps: -1, LR: -1, BatchSize: -2}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, f := range []string{"model.pretrain.preset", "model.pretrain.steps", "model.pretrain.lr", "model.pretrain.batch_size"} {
		if !contains(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	if _, err := Ensure(Config{Preset: "huge", Steps: 1, BatchSize: 1, LR: 1, CacheDir: t.TempDir()}, nil); err == nil {
		t.Error("Ensure accepted an unknown preset")
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
