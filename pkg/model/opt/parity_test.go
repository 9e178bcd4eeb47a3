package opt

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/paritytest"
	"github.com/gomezo/gomezo/pkg/hf"
)

// Tolerances of the parity acceptance (fp32 against HF's fp32 outputs;
// ../shared/fixtures/opt-tiny/README.md).
const (
	outAbs, outRel   = 1e-5, 1e-5 // hidden states, logits, attentions
	lossAbs          = 1e-6
	gradAbs, gradRel = 1e-6, 1e-4
)

// TestParity compares our OPT with Hugging Face's OPTForCausalLM on every
// OPT parity directory (../shared/fixtures/opt-tiny and the OPT entries of
// MEZO_PARITY_DIRS), loading the weights from safetensors and from
// pytorch_model.bin: position ids, hidden states, raw layer outputs,
// attentions, logits, the causal LM loss and every gradient of it.
func TestParity(t *testing.T) {
	for _, dir := range paritytest.Dirs(t, "opt") {
		for _, format := range []hf.Format{hf.FormatSafetensors, hf.FormatBin} {
			t.Run(filepath.Base(dir)+"/"+string(format), func(t *testing.T) {
				exp := paritytest.LoadExpected(t, dir)
				c := paritytest.NewChecker(t, exp, dir+" ("+string(format)+")")
				checkLM(t, c, dir, format)
				left := 0
				for _, n := range c.Unused() {
					if strings.HasPrefix(n, "grad.") || strings.HasPrefix(n, "hidden_states.") ||
						strings.HasPrefix(n, "attentions.") || strings.HasPrefix(n, "layer_output.") ||
						n == "logits" || n == "loss" {
						t.Errorf("%s: expected %s was not compared", c.Where, n)
					}
					left++
				}
				// The candidate scores and training losses (cand_*, cls_*,
				// gold_*, option_loss) are pkg/objective's tests.
				t.Logf("%s: compared %d tensors; the closest used %.0f%% of its tolerance (%s); %d tensors left to pkg/objective's tests",
					c.Where, c.Compared, 100*c.Worst, c.WorstName, left)
			})
		}
	}
}

func checkLM(t *testing.T, c *paritytest.Checker, dir string, format hf.Format) {
	m, err := Load(dir, format, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Grad)
	defer s.Close()
	ids, mask, labels := c.Input(s, "input_ids", torch.CPU), c.Input(s, "attention_mask", torch.CPU), c.Input(s, "labels", torch.CPU)
	dec := m.Decode(s, Inputs{InputIDs: ids, AttentionMask: mask}, ForwardOptions{Hidden: true, Attentions: true})
	pos := m.PositionIDs(s, mask)
	logits := m.LMHead(s, dec.Last)
	loss := m.LMLoss(s, logits, labels)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	c.CompareIfPresent("position_ids", pos, 0, 0)
	if len(dec.Hidden) != m.Config.Layers+1 || len(dec.Attentions) != m.Config.Layers || len(dec.LayerOutputs) != m.Config.Layers {
		t.Fatalf("got %d hidden states, %d attentions, %d layer outputs for %d layers", len(dec.Hidden), len(dec.Attentions), len(dec.LayerOutputs), m.Config.Layers)
	}
	for i, h := range dec.Hidden {
		c.Compare(fmt.Sprintf("hidden_states.%d", i), h, outAbs, outRel)
	}
	for i, h := range dec.LayerOutputs {
		c.CompareIfPresent(fmt.Sprintf("layer_output.%d", i), h, outAbs, outRel)
	}
	for i, a := range dec.Attentions {
		c.CompareIfPresent(fmt.Sprintf("attentions.%d", i), a, outAbs, outRel)
	}
	c.Compare("logits", logits, outAbs, outRel)
	c.Compare("loss", loss, lossAbs, 0)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	c.CompareGrads(m.Params, "grad.", gradAbs, gradRel, kProjBias)
}

// kProjBias reports the k_proj biases, whose exact gradient is zero
// (softmax is shift-invariant per query): compared absolutely only.
func kProjBias(name string) bool { return strings.HasSuffix(name, "self_attn.k_proj.bias") }
