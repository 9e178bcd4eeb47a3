package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Format is a checkpoint's weight format.
type Format string

// The weight formats OpenModelDir recognises.
const (
	FormatSafetensors Format = "safetensors" // model.safetensors or model.safetensors.index.json
	FormatBin         Format = "bin"         // pytorch_model.bin or pytorch_model.bin.index.json
)

// Weight file names, in the order OpenModelDir looks for them.
var weightFiles = []struct {
	format  Format
	name    string
	sharded bool
}{
	{FormatSafetensors, "model.safetensors", false},
	{FormatSafetensors, "model.safetensors.index.json", true},
	{FormatBin, "pytorch_model.bin", false},
	{FormatBin, "pytorch_model.bin.index.json", true},
}

// ModelDir is a Hugging Face model directory: a config.json and the weights
// in one format.
type ModelDir struct {
	Path   string
	Config *Config
	Format Format
	// WeightsPath is the single weights file, or the index
	// (*.index.json) of a sharded checkpoint.
	WeightsPath string
	// Shards lists the shard files of a sharded checkpoint in name order
	// (nil for a single file).
	Shards []string
	// weightMap maps each tensor to its shard's base name (sharded only).
	weightMap map[string]string
}

// OpenModelDir reads dir/config.json and finds the weights: by default
// model.safetensors, else model.safetensors.index.json, else
// pytorch_model.bin, else pytorch_model.bin.index.json. prefer
// (FormatSafetensors or FormatBin) restricts the search to that format;
// "" means no preference. A missing config or weights file is an error
// naming dir and the files looked for.
func OpenModelDir(dir string, prefer Format) (*ModelDir, error) {
	if prefer != "" && prefer != FormatSafetensors && prefer != FormatBin {
		return nil, fmt.Errorf("hf: unknown weight format %q (want %q or %q)", prefer, FormatSafetensors, FormatBin)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("hf: model directory %s does not exist", dir)
	}
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	m := &ModelDir{Path: dir, Config: cfg}
	var looked []string
	for _, wf := range weightFiles {
		if prefer != "" && wf.format != prefer {
			continue
		}
		looked = append(looked, wf.name)
		p := filepath.Join(dir, wf.name)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			continue
		}
		m.Format, m.WeightsPath = wf.format, p
		if wf.sharded {
			if err := m.readIndex(); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("hf: no weights in %s: looked for %s", dir, strings.Join(looked, ", "))
}

// readIndex reads a sharded checkpoint's index: {"metadata": {...},
// "weight_map": {tensor: shard file}}.
func (m *ModelDir) readIndex() error {
	data, err := os.ReadFile(m.WeightsPath)
	if err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return fmt.Errorf("hf: index %s: %w", m.WeightsPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return fmt.Errorf("hf: index %s has no weight_map", m.WeightsPath)
	}
	seen := map[string]bool{}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." {
			return fmt.Errorf("hf: index %s: tensor %q names shard %q, not a file in the directory", m.WeightsPath, name, shard)
		}
		if !seen[shard] {
			seen[shard] = true
			m.Shards = append(m.Shards, filepath.Join(m.Path, shard))
		}
	}
	sort.Strings(m.Shards)
	var missing []string
	for _, s := range m.Shards {
		if _, err := os.Stat(s); err != nil {
			missing = append(missing, filepath.Base(s))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("hf: index %s names shards missing from %s: %s", m.WeightsPath, m.Path, strings.Join(missing, ", "))
	}
	m.weightMap = idx.WeightMap
	return nil
}

// Open opens the weights for lazy reading. For a sharded checkpoint the
// shards are opened in name order and their names concatenated (each in its
// file order); every tensor of the weight_map must be in the shard it
// names, and a tensor in two shards is an error. Tensors a shard holds
// beyond the weight_map are kept.
func (m *ModelDir) Open() (*Checkpoint, error) {
	if m.Shards == nil {
		return OpenWeights(m.WeightsPath)
	}
	c := &Checkpoint{where: map[string]weightsFile{}}
	for _, shard := range m.Shards {
		if err := c.add(shard, m.Format); err != nil {
			c.Close()
			return nil, err
		}
	}
	var missing []string
	for n, shard := range m.weightMap {
		if wf, ok := c.where[n]; !ok || filepath.Base(wf.Path()) != shard {
			missing = append(missing, fmt.Sprintf("%s (in %s)", n, shard))
		}
	}
	if len(missing) > 0 {
		c.Close()
		sort.Strings(missing)
		return nil, fmt.Errorf("hf: %s: %d tensors of the weight_map are not in their shards: %s", m.WeightsPath, len(missing), strings.Join(missing, ", "))
	}
	return c, nil
}

// Load reads all weights (see Open for sharded checkpoints).
func (m *ModelDir) Load() (*StateDict, error) {
	c, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ReadAll()
}

// OpenModel resolves nameOrPath with ResolveModel and opens the directory
// with OpenModelDir.
func OpenModel(nameOrPath string, prefer Format) (*ModelDir, error) {
	dir, err := ResolveModel(nameOrPath)
	if err != nil {
		return nil, err
	}
	return OpenModelDir(dir, prefer)
}
