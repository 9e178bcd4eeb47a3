package opt

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomezo/gomezo/pkg/hf"
)

// Checkpoint metadata keys written into our safetensors files.
const (
	metaFormat = "format"
	metaModel  = "gomezo.model"
)

// Save writes every parameter (Hugging Face names, the model's dtype) to a
// safetensors file, atomically, with gomezo.model = opt and the extra
// metadata entries. The file loads back with LoadCheckpoint, and with
// FromStateDict (or transformers) like any HF checkpoint; a tied head is not
// written, as PyTorch's state_dict would write it only as a shared copy.
func (m *Model) Save(path string, extra map[string]string) error {
	sd, err := m.Params.StateDict()
	if err != nil {
		return err
	}
	meta := map[string]string{metaFormat: "pt", metaModel: "opt"}
	for k, v := range extra {
		meta[k] = v
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return hf.WriteSafetensors(path, sd, meta)
}

// LoadCheckpoint reads a file written by Save; c is the architecture's
// config (config.json of the model the run started from).
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
	if mt := meta[metaModel]; mt != "opt" {
		return nil, fmt.Errorf("%s: %s is %q, want opt: not a gomezo OPT checkpoint; load it with FromStateDict", path, metaModel, mt)
	}
	return FromStateDict(c, sd, path, opts)
}
