package recipe

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// Marshal writes the recipe as YAML with every field explicit, in schema
// order: what a run directory's recipe.yaml holds. Decoding the result gives
// the same recipe back.
func (r *Recipe) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
