// Package paritytest holds what the parity tests of the model packages
// share: finding the golden directories of one model type (the fixtures
// under ../shared/fixtures and the entries of MEZO_PARITY_DIRS) and
// comparing our tensors with the expected ones at stated tolerances. Test
// code only.
package paritytest

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
)

// ParityFiles are the files a parity directory holds.
var ParityFiles = []string{"config.json", "model.safetensors", "pytorch_model.bin", "expected.safetensors"}

// IsParityDir reports whether d holds every file of ParityFiles.
func IsParityDir(d string) bool {
	for _, f := range ParityFiles {
		if st, err := os.Stat(filepath.Join(d, f)); err != nil || st.IsDir() || st.Size() == 0 {
			return false
		}
	}
	return true
}

// ModelType reads d/config.json's model_type; an unreadable config fails
// the test.
func ModelType(t testing.TB, d string) string {
	t.Helper()
	c, err := hf.ReadConfig(d)
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	return c.ModelType
}

// Dirs lists every parity directory of modelType: those under
// ../shared/fixtures, plus the entries of MEZO_PARITY_DIRS (colon-separated)
// whose config says modelType. A listed entry that is missing or lacks a
// parity file fails the test; entries of another model type are logged and
// left to their model's test. No directory at all fails the test.
func Dirs(t testing.TB, modelType string) []string {
	t.Helper()
	root := testenv.SharedPath(t, "fixtures")
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		d := filepath.Join(root, e.Name())
		if e.IsDir() && IsParityDir(d) && ModelType(t, d) == modelType {
			out = append(out, d)
		}
	}
	for _, d := range testenv.ListEnv("MEZO_PARITY_DIRS") {
		if !IsParityDir(d) {
			t.Errorf("MEZO_PARITY_DIRS entry %s is missing or lacks one of %s", d, strings.Join(ParityFiles, ", "))
			continue
		}
		if mt := ModelType(t, d); mt != modelType {
			t.Logf("MEZO_PARITY_DIRS entry %s has model_type %q, not %q: left to that model's test", d, mt, modelType)
			continue
		}
		if !slices.ContainsFunc(out, func(o string) bool { return sameDir(o, d) }) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s parity directory found", modelType)
	}
	return out
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// LoadExpected reads dir/expected.safetensors.
func LoadExpected(t testing.TB, dir string) *hf.StateDict {
	t.Helper()
	sd, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// Checker compares our tensors with the expected ones and records which
// expected tensors were used.
type Checker struct {
	T        testing.TB
	Exp      *hf.StateDict
	Where    string
	Compared int
	Used     map[string]bool
	// Worst is the largest |diff| / (abs + rel·|theirs|) seen: how much of
	// the tolerance the closest call used.
	Worst     float64
	WorstName string
}

// NewChecker makes a checker of exp; where names it in messages.
func NewChecker(t testing.TB, exp *hf.StateDict, where string) *Checker {
	return &Checker{T: t, Exp: exp, Where: where, Used: map[string]bool{}}
}

// Has reports whether the expected file holds name.
func (c *Checker) Has(name string) bool { _, ok := c.Exp.Tensors[name]; return ok }

// Want returns the expected values of name as float64 (I64 converted); a
// missing tensor fails the test.
func (c *Checker) Want(name string) []float64 {
	c.T.Helper()
	e := c.Exp.Tensors[name]
	if e == nil {
		c.T.Fatalf("%s: expected.safetensors has no %s", c.Where, name)
	}
	c.Used[name] = true
	if e.DType == "I64" {
		iv, err := e.Int64s()
		if err != nil {
			c.T.Fatalf("%s: %s: %v", c.Where, name, err)
		}
		v := make([]float64, len(iv))
		for i, x := range iv {
			v[i] = float64(x)
		}
		return v
	}
	v, err := e.Float64s()
	if err != nil {
		c.T.Fatalf("%s: %s: %v", c.Where, name, err)
	}
	return v
}

// Int64s returns the expected int64 tensor name and its shape.
func (c *Checker) Int64s(name string) ([]int64, []int64) {
	c.T.Helper()
	e := c.Exp.Tensors[name]
	if e == nil {
		c.T.Fatalf("%s: expected.safetensors has no %s", c.Where, name)
	}
	c.Used[name] = true
	v, err := e.Int64s()
	if err != nil {
		c.T.Fatalf("%s: %s: %v", c.Where, name, err)
	}
	return v, e.Shape
}

// Input makes the expected int64 tensor name a tensor of s on dev.
func (c *Checker) Input(s *torch.Scope, name string, dev torch.Device) *torch.Tensor {
	v, shape := c.Int64s(name)
	return s.FromInt64s(v, shape, dev)
}

// Values copies x to the host as float64.
func Values(t testing.TB, x *torch.Tensor) []float64 {
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

// Compare checks |ours − theirs| ≤ abs + rel·|theirs| elementwise; a missing
// expected tensor fails the test.
func (c *Checker) Compare(name string, ours *torch.Tensor, abs, rel float64) {
	c.T.Helper()
	c.CompareMasked(name, Values(c.T, ours), nil, abs, rel)
}

// CompareValues is Compare on host values.
func (c *Checker) CompareValues(name string, got []float64, abs, rel float64) {
	c.T.Helper()
	c.CompareMasked(name, got, nil, abs, rel)
}

// CompareMasked is CompareValues restricted to the elements where keep
// (of the same length, when not nil) is true.
func (c *Checker) CompareMasked(name string, got []float64, keep []bool, abs, rel float64) {
	c.T.Helper()
	want := c.Want(name)
	if len(got) != len(want) || (keep != nil && len(keep) != len(want)) {
		c.T.Errorf("%s: %s: %d values, want %d", c.Where, name, len(got), len(want))
		return
	}
	worst, at := 0.0, -1
	for i := range got {
		if keep != nil && !keep[i] {
			continue
		}
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(got[i]) {
			d = math.Inf(1)
		}
		tol := abs + rel*math.Abs(want[i])
		if tol > 0 && d/tol > c.Worst {
			c.Worst, c.WorstName = d/tol, name
		}
		if d > tol && d > worst {
			worst, at = d, i
		}
	}
	if at >= 0 {
		c.T.Errorf("%s: %s: element %d: ours %.9g, theirs %.9g (|diff| %.3g > %.1g + %.1g·|theirs|)",
			c.Where, name, at, got[at], want[at], worst, abs, rel)
	}
	c.Compared++
}

// CompareIfPresent compares name only when the expected file has it.
func (c *Checker) CompareIfPresent(name string, ours *torch.Tensor, abs, rel float64) {
	c.T.Helper()
	if c.Has(name) {
		c.Compare(name, ours, abs, rel)
	}
}

// Unused lists the expected tensors no call used.
func (c *Checker) Unused() []string {
	var out []string
	for _, n := range c.Exp.Names {
		if !c.Used[n] {
			out = append(out, n)
		}
	}
	return out
}

// CompareGrads checks the gradient of every parameter of ps against
// prefix+name at gradAbs + gradRel·|theirs| (absolutely only for names
// absOnly accepts: gradients that are zero in exact arithmetic), and that
// the file has no other prefix+… tensor.
func (c *Checker) CompareGrads(ps *nn.ParamSet, prefix string, gradAbs, gradRel float64, absOnly func(name string) bool) {
	c.T.Helper()
	n := 0
	for _, p := range ps.All() {
		g, err := p.T.Grad()
		if err != nil {
			c.T.Fatal(err)
		}
		if g == nil {
			c.T.Errorf("%s: %s has no gradient", c.Where, p.Name)
			continue
		}
		rel := gradRel
		if absOnly != nil && absOnly(p.Name) {
			rel = 0
		}
		c.Compare(prefix+p.Name, g, gradAbs, rel)
		g.Close()
		n++
	}
	var want int
	for _, name := range c.Exp.Names {
		if strings.HasPrefix(name, prefix) {
			want++
		}
	}
	if n != want {
		c.T.Errorf("%s: compared %d %s tensors, the file has %d", c.Where, n, prefix, want)
	}
}
