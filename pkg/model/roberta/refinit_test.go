package roberta

import (
	"path/filepath"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
)

// TestReferenceHeadInit: the reference-run fixture's model/ plus seed 42
// gives its initial.safetensors — the pooler and classifier the reference
// initialised from torch's global generator — bit for bit, and every other
// tensor is the checkpoint's.
func TestReferenceHeadInit(t *testing.T) {
	set := testenv.SharedPath(t, "fixtures", "mezo-reference-run")
	init, err := hf.ReadSafetensors(filepath.Join(set, "initial.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(filepath.Join(set, "model"), "", Options{Head: Prompt, NumLabels: 2, InitSeed: 42, ReferenceInit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	same, differ := 0, []string{}
	for _, p := range m.Params.All() {
		want, ok := init.Tensors[p.Name]
		if !ok {
			t.Fatalf("initial.safetensors has no %s", p.Name)
		}
		got, err := p.T.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) == string(want.Data) {
			same++
		} else {
			differ = append(differ, p.Name)
		}
	}
	if len(differ) > 0 {
		t.Errorf("%d of %d tensors differ from the reference's initial state: %v", len(differ), same+len(differ), differ)
	}
	t.Logf("%d tensors equal the reference's initial state bit for bit", same)
}
