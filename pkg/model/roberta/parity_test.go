package roberta

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
)

// Tolerances of the parity acceptance (fp32 against HF's fp32 outputs).
const (
	outAbs, outRel   = 1e-5, 1e-5 // hidden states, logits, attentions
	lossAbs          = 1e-6
	gradAbs, gradRel = 1e-6, 1e-4
)

// parityDirs lists every RoBERTa parity directory: those under
// ../shared/fixtures holding config.json, model.safetensors,
// pytorch_model.bin and expected.safetensors, plus MEZO_PARITY_DIRS. Entries
// of another model type are left to the issue that adds that model.
func parityDirs(t *testing.T) []string {
	t.Helper()
	root := testenv.SharedPath(t, "fixtures")
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		d := filepath.Join(root, e.Name())
		if e.IsDir() && isParityDir(d) {
			dirs = append(dirs, d)
		}
	}
	var out []string
	for _, d := range dirs {
		if modelType(t, d) == "roberta" {
			out = append(out, d)
		}
	}
	for _, d := range testenv.ListEnv("MEZO_PARITY_DIRS") {
		if !isParityDir(d) {
			t.Errorf("MEZO_PARITY_DIRS entry %s is missing or lacks config.json, model.safetensors, pytorch_model.bin or expected.safetensors", d)
			continue
		}
		if mt := modelType(t, d); mt != "roberta" {
			t.Logf("MEZO_PARITY_DIRS entry %s has model_type %q: left to the issue that adds that model", d, mt)
			continue
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		t.Fatal("no RoBERTa parity directory found")
	}
	return out
}

func isParityDir(d string) bool {
	for _, f := range []string{"config.json", "model.safetensors", "pytorch_model.bin", "expected.safetensors"} {
		if st, err := os.Stat(filepath.Join(d, f)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

func modelType(t *testing.T, d string) string {
	c, err := hf.ReadConfig(d)
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	return c.ModelType
}

// checker compares our tensors with the expected ones and counts them.
type checker struct {
	t        *testing.T
	exp      *hf.StateDict
	where    string
	compared int
	used     map[string]bool
	// worst is the largest |diff| / (abs + rel·|theirs|) seen: how much of
	// the tolerance the closest call used.
	worst     float64
	worstName string
}

func (c *checker) want(name string) []float64 {
	c.t.Helper()
	e := c.exp.Tensors[name]
	if e == nil {
		c.t.Fatalf("%s: expected.safetensors has no %s", c.where, name)
	}
	c.used[name] = true
	if e.DType == "I64" {
		iv, err := e.Int64s()
		if err != nil {
			c.t.Fatalf("%s: %s: %v", c.where, name, err)
		}
		v := make([]float64, len(iv))
		for i, x := range iv {
			v[i] = float64(x)
		}
		return v
	}
	v, err := e.Float64s()
	if err != nil {
		c.t.Fatalf("%s: %s: %v", c.where, name, err)
	}
	return v
}

func values(t *testing.T, x *torch.Tensor) []float64 {
	t.Helper()
	y, err := x.To(torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	v, err := y.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// compareIfPresent compares name only when the expected file has it (the
// optional outputs: per-layer hidden states and attentions, intermediates).
func (c *checker) compareIfPresent(name string, ours *torch.Tensor, abs, rel float64) {
	c.t.Helper()
	if _, ok := c.exp.Tensors[name]; ok {
		c.compare(name, ours, abs, rel)
	}
}

// compare checks |ours − theirs| ≤ abs + rel·|theirs| elementwise; a missing
// expected tensor fails the test.
func (c *checker) compare(name string, ours *torch.Tensor, abs, rel float64) {
	c.t.Helper()
	want := c.want(name)
	got := values(c.t, ours)
	if len(got) != len(want) {
		c.t.Errorf("%s: %s: %d values, want %d", c.where, name, len(got), len(want))
		return
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if tol := abs + rel*math.Abs(want[i]); tol > 0 && d/tol > c.worst {
			c.worst, c.worstName = d/tol, name
		}
		if d > abs+rel*math.Abs(want[i]) {
			if d > worst {
				worst, at = d, i
			}
		}
	}
	if at >= 0 {
		c.t.Errorf("%s: %s: element %d: ours %.9g, theirs %.9g (|diff| %.3g > %.1g + %.1g·|theirs|)",
			c.where, name, at, got[at], want[at], worst, abs, rel)
	}
	c.compared++
}

func loadExpected(t *testing.T, dir string) *hf.StateDict {
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func inputsFromExpected(t *testing.T, s *torch.Scope, exp *hf.StateDict, names ...string) []*torch.Tensor {
	var out []*torch.Tensor
	for _, n := range names {
		e := exp.Tensors[n]
		if e == nil {
			t.Fatalf("expected.safetensors has no %s", n)
		}
		v, err := e.Int64s()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.FromInt64s(v, e.Shape, torch.CPU))
	}
	return out
}

// TestParity compares our RoBERTa with Hugging Face's on every parity
// directory, loading the weights from safetensors and from pytorch_model.bin:
// position ids, hidden states, attentions, MLM logits, the prompt head and its
// loss, every gradient of the prompt loss, and (seqcls/) the classification
// logits, loss and gradients.
func TestParity(t *testing.T) {
	for _, dir := range parityDirs(t) {
		for _, format := range []hf.Format{hf.FormatSafetensors, hf.FormatBin} {
			t.Run(filepath.Base(dir)+"/"+string(format), func(t *testing.T) {
				exp := loadExpected(t, dir)
				c := &checker{t: t, exp: exp, where: dir + " (" + string(format) + ")", used: map[string]bool{}}
				for _, n := range []string{"input_ids", "attention_mask", "mask_pos", "label_word_ids", "labels"} {
					c.used[n] = true
				}
				checkMLM(t, c, dir, format)
				if _, err := os.Stat(filepath.Join(dir, "seqcls", "config.json")); err == nil {
					checkSeqCls(t, c, filepath.Join(dir, "seqcls"), format)
				}
				var unused []string
				for _, n := range exp.Names {
					if !c.used[n] {
						unused = append(unused, n)
					}
				}
				sort.Strings(unused)
				for _, n := range unused {
					if strings.HasPrefix(n, "grad.") || strings.HasPrefix(n, "seqcls") {
						t.Errorf("%s: expected %s was not compared", c.where, n)
					}
				}
				if len(unused) > 0 {
					t.Logf("%s: tensors of the file this test does not know, not compared: %s", c.where, strings.Join(unused, ", "))
				}
				if c.compared == 0 {
					t.Fatalf("%s: nothing compared", c.where)
				}
				t.Logf("%s: compared %d tensors; the closest used %.0f%% of its tolerance (%s)", c.where, c.compared, 100*c.worst, c.worstName)
			})
		}
	}
}

func checkMLM(t *testing.T, c *checker, dir string, format hf.Format) {
	m, err := Load(dir, format, Options{Head: MaskedLM})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Grad)
	defer s.Close()
	in := inputsFromExpected(t, s, c.exp, "input_ids", "attention_mask", "mask_pos", "label_word_ids", "labels")
	ids, mask, maskPos, words, labels := in[0], in[1], in[2], in[3], in[4]
	enc := m.Encode(s, Inputs{InputIDs: ids, AttentionMask: mask}, ForwardOptions{Hidden: true, Attentions: true})
	pos := m.PositionIDs(s, ids)
	mlm := m.LMHead(s, enc.Last)
	maskHidden := s.GatherRows(enc.Last, maskPos)
	maskVocab := m.LMHead(s, maskHidden)
	logits := s.IndexSelect(maskVocab, 1, words)
	loss := s.CrossEntropy(logits, labels)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	c.compareIfPresent("position_ids", pos, 0, 0)
	for i, h := range enc.Hidden {
		c.compareIfPresent(fmt.Sprintf("hidden_states.%d", i), h, outAbs, outRel)
	}
	for i, a := range enc.Attentions {
		c.compareIfPresent(fmt.Sprintf("attentions.%d", i), a, outAbs, outRel)
	}
	c.compare("last_hidden_state", enc.Last, outAbs, outRel)
	c.compare("mlm_logits", mlm, outAbs, outRel)
	c.compareIfPresent("mask_hidden", maskHidden, outAbs, outRel)
	c.compareIfPresent("mask_vocab_logits", maskVocab, outAbs, outRel)
	c.compare("label_word_logits", logits, outAbs, outRel)
	c.compare("loss", loss, lossAbs, 0)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	compareGrads(t, c, m, "grad.")
}

func checkSeqCls(t *testing.T, c *checker, dir string, format hf.Format) {
	cfg, err := hf.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, format, Options{Head: SeqCls, NumLabels: cfg.NumLabels})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Params.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope(torch.Grad)
	defer s.Close()
	in := inputsFromExpected(t, s, c.exp, "input_ids", "attention_mask", "labels")
	enc := m.Encode(s, Inputs{InputIDs: in[0], AttentionMask: in[1]}, ForwardOptions{})
	logits := m.ClassifierLogits(s, enc.Last, ForwardOptions{})
	loss := s.CrossEntropy(logits, in[2])
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	c.compare("seqcls_logits", logits, outAbs, outRel)
	c.compare("seqcls_loss", loss, lossAbs, 0)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	compareGrads(t, c, m, "seqcls_grad.")
}

// compareGrads checks the gradient of every parameter against prefix+name;
// the attention key biases, whose exact gradient is zero, absolutely only.
func compareGrads(t *testing.T, c *checker, m *Model, prefix string) {
	n := 0
	for _, p := range m.Params.All() {
		g, err := p.T.Grad()
		if err != nil {
			t.Fatal(err)
		}
		if g == nil {
			t.Errorf("%s: %s has no gradient", c.where, p.Name)
			continue
		}
		rel := gradRel
		if strings.HasSuffix(p.Name, "attention.self.key.bias") {
			rel = 0
		}
		c.compare(prefix+p.Name, g, gradAbs, rel)
		g.Close()
		n++
	}
	var want int
	for _, name := range c.exp.Names {
		if strings.HasPrefix(name, prefix) {
			want++
		}
	}
	if n != want {
		t.Errorf("%s: compared %d %s tensors, the file has %d", c.where, n, prefix, want)
	}
}
