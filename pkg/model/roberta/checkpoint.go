package roberta

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gomezo/gomezo/pkg/hf"
)

// Checkpoint metadata keys written into our safetensors files.
const (
	metaFormat = "format"
	metaHead   = "gomezo.head"
	metaLabels = "gomezo.num_labels"
	metaTied   = "gomezo.tied"
)

// Save writes every parameter (Hugging Face names, the model's dtype) to a
// safetensors file, atomically, with the head, label count and tying in its
// metadata, plus extra metadata entries. The file loads back with
// LoadCheckpoint, and with FromStateDict like any HF checkpoint.
func (m *Model) Save(path string, extra map[string]string) error {
	sd, err := m.Params.StateDict()
	if err != nil {
		return err
	}
	meta := map[string]string{
		metaFormat: "pt",
		metaHead:   string(m.Opts.Head),
		metaLabels: strconv.Itoa(m.Opts.NumLabels),
		metaTied:   strconv.FormatBool(m.Opts.tied()),
	}
	for k, v := range extra {
		meta[k] = v
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return hf.WriteSafetensors(path, sd, meta)
}

// LoadCheckpoint reads a file written by Save. c is the architecture's
// config (config.json of the model the run started from). Options fields
// left zero are taken from the file's metadata (head, labels, tying).
func LoadCheckpoint(path string, c *hf.Config, opts Options) (*Model, error) {
	f, err := hf.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	meta := f.Metadata()
	sd, err := f.ReadAll()
	f.Close()
	if err != nil {
		return nil, err
	}
	if opts.Head == "" {
		opts.Head = Head(meta[metaHead])
		if opts.Head == "" {
			return nil, fmt.Errorf("%s: no %s in the metadata: not a gomezo checkpoint; load it with FromStateDict", path, metaHead)
		}
	}
	if opts.NumLabels == 0 {
		if n, err := strconv.Atoi(meta[metaLabels]); err == nil {
			opts.NumLabels = n
		}
	}
	if opts.Tying == TieDefault {
		switch meta[metaTied] {
		case "true":
			opts.Tying = Tied
		case "false":
			opts.Tying = Untied
		}
	}
	return FromStateDict(c, sd, path, opts)
}
