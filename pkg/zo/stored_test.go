package zo_test

import (
	"path/filepath"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/reftest"
	"github.com/gomezo/gomezo/internal/testenv"
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
	reftest.ReadJSON(t, filepath.Join(dir, "trajectory.json"), &fx)
	m := reftest.PromptModel(t, dir, len(fx.Batch.LabelWords))
	defer m.Close()
	pl, err := m.Params.TrainableList()
	reftest.Must(t, err)
	defer pl.Close()
	gen, err := torch.NewGenerator(torch.CPU, 42)
	reftest.Must(t, err)
	defer gen.Close()
	trainable := m.Params.Trainable()
	heads := 0
	for _, st := range fx.Steps {
		if len(st.Samples) != 1 {
			t.Fatalf("step %d has %d samples; this path has one", st.Step, len(st.Samples))
		}
		_, err := gen.Random64() // the epoch's DataLoader base seed
		reftest.Must(t, err)
		z, err := pl.DrawNormal(gen)
		reftest.Must(t, err)
		if st.Step == 1 {
			for i, p := range trainable {
				want, ok := st.Samples[0].ZStat[p.Name]
				if !ok {
					continue
				}
				zi, err := zTensor(z, i)
				reftest.Must(t, err)
				for j, w := range want.Head {
					if zi[j] != float32(w) {
						t.Fatalf("step 1 z of %s[%d]: %v, reference %v", p.Name, j, zi[j], w)
					}
					heads++
				}
			}
		}
		for _, sc := range []float64{1, -2, 1} {
			reftest.Must(t, pl.PerturbStored(z, sc, fx.Args.Eps))
		}
		reftest.Must(t, pl.UpdateStored(z, float64(reftest.F32(t, st.Samples[0].Grad)), fx.Args.LR, fx.Args.WeightDecay))
		reftest.Must(t, z.Close())
	}
	if heads == 0 {
		t.Fatal("no z values compared")
	}
	c := reftest.CompareFinal(t, m, filepath.Join(dir, fx.FinalState))
	for _, n := range c.Differ {
		t.Errorf("%s differs from the reference's final state", n)
	}
	t.Logf("%d steps; %d step-1 z values and all %d final tensors equal the reference bit for bit", len(fx.Steps), heads, c.Tensors)
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
