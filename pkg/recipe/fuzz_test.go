package recipe

import (
	"bytes"
	"os"
	"testing"
)

// FuzzDecodeRecipe feeds arbitrary bytes and one override to the decoder:
// it must return a recipe or an error, never panic, and a recipe it returns
// must survive Marshal and Decode unchanged.
func FuzzDecodeRecipe(f *testing.F) {
	for _, s := range []string{
		"",
		"method: {kind: mezo}\ntask: {name: SST-2}\n",
		"reference: true\noptim:\n  lr: fast\n",
		"optim: &o {lr: 1}\neval: *o\n",
		"task:\n  template: '*cls**sent_0*_It_was*mask*.*sep+*'\n  mapping: \"{'0':'terrible','1':'great'}\"\n",
		"a: [1\n",
		"optim:\n  max_steps: 1e5\n  lr: .inf\n",
		"model: {path: x}\n---\nmodel: {}\n",
	} {
		f.Add([]byte(s), "optim.lr=1e-6")
	}
	if b, err := os.ReadFile("../../recipes/paper/mezo-SST-2-k16.yaml"); err == nil {
		f.Add(b, "task.data_dir=/x")
	}
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		if len(data) > 4096 {
			return
		}
		r, err := Decode("fuzz.yaml", data, set)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_ = r.Validate()
		_ = r.Quirks()
		b, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Decode("recipe.yaml", b)
		if err != nil {
			t.Fatalf("decoding the marshalled recipe: %v\n%s", err, b)
		}
		b2, err := back.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the recipe:\n%s\n%s", b, b2)
		}
	})
}
