package zo_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
)

// TestReferenceStoredZPasses replays the reference's non-efficient ZO path
// (zo-non-efficient: z drawn once per step from torch's global generator —
// seeded 42, advanced by each epoch's DataLoader random64 and by every
// earlier draw, Box-Muller cache included — stored, and used for +ε −2ε +ε
// and the update) on the parameters, with the recorded projected gradients:
// the first values of every step-1 z tensor and all final tensors must equal
// the reference's bit for bit.
func TestReferenceStoredZPasses(t *testing.T) {
	dir := testenv.SharedPath(t, "fixtures", "mezo-reference-trainer", "zo-non-efficient")
	raw, err := os.ReadFile(filepath.Join(dir, "trajectory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Args struct {
			LR          float64 `json:"learning_rate"`
			WeightDecay float64 `json:"weight_decay"`
			Eps         float64 `json:"zero_order_eps"`
		} `json:"training_args"`
		Batch struct {
			LabelWords []int64 `json:"label_word_list"`
		} `json:"batch"`
		Steps []struct {
			Step    int `json:"step"`
			Samples []struct {
				Grad  string `json:"projected_grad_f32"`
				ZStat map[string]struct {
					Head []float64 `json:"head"`
				} `json:"z_stats"`
			} `json:"samples"`
		} `json:"steps"`
		FinalState string `json:"final_state"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "initial.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := roberta.FromStateDict(cfg, sd, "initial.safetensors", roberta.Options{Head: roberta.Prompt, NumLabels: len(fx.Batch.LabelWords)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pl, err := m.Params.TrainableList()
	must(t, err)
	defer pl.Close()
	gen, err := torch.NewGenerator(torch.CPU, 42)
	must(t, err)
	defer gen.Close()
	trainable := m.Params.Trainable()
	heads := 0
	for _, st := range fx.Steps {
		if len(st.Samples) != 1 {
			t.Fatalf("step %d has %d samples; this path has one", st.Step, len(st.Samples))
		}
		_, err := gen.Random64() // the epoch's DataLoader base seed
		must(t, err)
		z, err := pl.DrawNormal(gen)
		must(t, err)
		if st.Step == 1 {
			for i, p := range trainable {
				want, ok := st.Samples[0].ZStat[p.Name]
				if !ok {
					continue
				}
				zi, err := zTensor(z, i)
				must(t, err)
				for j, w := range want.Head {
					if zi[j] != float32(w) {
						t.Fatalf("step 1 z of %s[%d]: %v, reference %v", p.Name, j, zi[j], w)
					}
					heads++
				}
			}
		}
		for _, sc := range []float64{1, -2, 1} {
			must(t, pl.PerturbStored(z, sc, fx.Args.Eps))
		}
		must(t, pl.UpdateStored(z, float64(f32hex(t, st.Samples[0].Grad)), fx.Args.LR, fx.Args.WeightDecay))
		must(t, z.Close())
	}
	if heads == 0 {
		t.Fatal("no z values compared")
	}
	final, err := hf.ReadSafetensors(filepath.Join(dir, fx.FinalState))
	must(t, err)
	for _, p := range m.Params.All() {
		got, err := p.T.Bytes()
		must(t, err)
		if string(got) != string(final.Tensors[p.Name].Data) {
			t.Errorf("%s differs from the reference's final state", p.Name)
		}
	}
	t.Logf("%d steps; %d step-1 z values and all %d final tensors equal the reference bit for bit", len(fx.Steps), heads, m.Params.Len())
}

// zTensor reads tensor i of a stored-z list.
func zTensor(z *torch.ParamList, i int) ([]float32, error) {
	t, err := z.Tensor(i)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.Float32s()
}
