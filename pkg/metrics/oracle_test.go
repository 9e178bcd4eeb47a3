package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
)

// testdata/oracle.json holds bit patterns computed by numpy 1.24.2, scipy
// 1.10.1 and scikit-learn 1.2.1 over netlib BLAS (the reference's stack) on
// inputs both sides rebuild from a seed; testdata/oracle.py wrote it and
// documents the generator.

type genSpec struct {
	Kind string  `json:"kind"`
	Seed uint32  `json:"seed"`
	N    int     `json:"n"`
	A    float64 `json:"a"`
	B    float64 `json:"b"`
	Add  int64   `json:"add"`
}

// lcg yields oracle.py's 32-bit LCG states.
func lcg(seed uint32, n int) []uint32 {
	out := make([]uint32, n)
	s := seed
	for i := range out {
		s = 1664525*s + 1013904223
		out[i] = s
	}
	return out
}

func (g genSpec) ints() []int64 {
	if g.Kind != "int" {
		panic("not an int spec: " + g.Kind)
	}
	var out []int64
	for _, s := range lcg(g.Seed, g.N) {
		out = append(out, int64(s>>16)%int64(g.A)+g.Add)
	}
	return out
}

func (g genSpec) float32s() []float32 {
	var out []float32
	for _, s := range lcg(g.Seed, g.N) {
		switch g.Kind {
		case "f32":
			out = append(out, float32(float64(float64(s>>8)/16777216*g.A)+g.B))
		case "q":
			out = append(out, float32(float64(s>>16%uint32(g.A))/g.B))
		default:
			panic("not a float32 spec: " + g.Kind)
		}
	}
	return out
}

func (g genSpec) float64s() []float64 {
	if g.Kind != "f64" {
		panic("not a float64 spec: " + g.Kind)
	}
	var out []float64
	for _, s := range lcg(g.Seed, g.N) {
		out = append(out, float64(float64(s>>8)/16777216*g.A)+g.B)
	}
	return out
}

func bits64(t *testing.T, h string) float64 {
	t.Helper()
	u, err := strconv.ParseUint(h, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	return math.Float64frombits(u)
}

func bits32(t *testing.T, h string) float32 {
	t.Helper()
	u, err := strconv.ParseUint(h, 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	return math.Float32frombits(uint32(u))
}

// same reports bit equality, with every NaN equal to every NaN.
func same(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

type oracle struct {
	EvalLoss []struct {
		Means     genSpec `json:"means"`
		BatchSize int     `json:"batch_size"`
		N         int     `json:"n"`
		Want      string  `json:"eval_loss_f32"`
	} `json:"eval_loss"`
	Mean []struct {
		X       genSpec `json:"x"`
		MeanF64 string  `json:"mean_f64"`
		MeanF32 string  `json:"mean_f32"`
	} `json:"mean"`
	AverageSamples []struct {
		Logits    genSpec  `json:"logits"`
		NumSample int      `json:"num_sample"`
		K         int      `json:"k"`
		Want      []string `json:"mean_f32"`
	} `json:"average_samples"`
	Correlation []struct {
		X        genSpec `json:"x"`
		Y        genSpec `json:"y"`
		Pearson  string  `json:"pearson"`
		Spearman string  `json:"spearmanr"`
	} `json:"correlation"`
	Classification []struct {
		Preds  genSpec `json:"preds"`
		Labels genSpec `json:"labels"`
		F1     string  `json:"f1"`
		MCC    string  `json:"mcc"`
	} `json:"classification"`
}

func readOracle(t *testing.T) oracle {
	t.Helper()
	data, err := os.ReadFile("testdata/oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	var o oracle
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.EvalLoss) == 0 || len(o.Mean) == 0 || len(o.AverageSamples) == 0 || len(o.Correlation) == 0 || len(o.Classification) == 0 {
		t.Fatal("oracle.json lacks a section")
	}
	return o
}

func TestOracleEvalLoss(t *testing.T) {
	for _, c := range readOracle(t).EvalLoss {
		means := c.Means.float32s()
		sizes := make([]int, len(means))
		for i := range sizes {
			sizes[i] = min(c.BatchSize, c.N-i*c.BatchSize)
		}
		got, err := EvalLoss(means, sizes)
		if err != nil {
			t.Fatal(err)
		}
		if want := bits32(t, c.Want); got != want {
			t.Errorf("n %d, batch %d: eval_loss %v (%#x), numpy %v (%s)", c.N, c.BatchSize, got, math.Float32bits(got), want, c.Want)
		}
	}
}

func TestOracleMean(t *testing.T) {
	for _, c := range readOracle(t).Mean {
		var x []float64
		switch v := c.X.values().(type) {
		case []int64:
			x = float64s(v)
		case []float32:
			x = float64s(v)
			if got, want := npMeanFloat32(v), bits32(t, c.MeanF32); got != want {
				t.Errorf("float32 mean of %d: %v, numpy %v", len(v), got, want)
			}
		case []float64:
			x = v
		}
		if got, want := npMean(x), bits64(t, c.MeanF64); got != want {
			t.Errorf("mean(dtype=float64) of %d %s: %v, numpy %v", len(x), c.X.Kind, got, want)
		}
	}
}

func TestOracleAverageSamples(t *testing.T) {
	for _, c := range readOracle(t).AverageSamples {
		got, err := AverageSamples(c.Logits.float32s(), c.NumSample, c.K)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.Want) {
			t.Fatalf("num_sample %d: %d values, numpy %d", c.NumSample, len(got), len(c.Want))
		}
		for i, h := range c.Want {
			if want := bits32(t, h); got[i] != want {
				t.Errorf("num_sample %d, k %d, value %d: %v, numpy %v", c.NumSample, c.K, i, got[i], want)
			}
		}
	}
}

// values rebuilds an oracle input with its numpy dtype.
func (g genSpec) values() any {
	switch g.Kind {
	case "int":
		return g.ints()
	case "f64":
		return g.float64s()
	}
	return g.float32s()
}

// typedCorr calls Pearson or Spearman with the Go types of the inputs'
// numpy dtypes.
func typedCorr(name string, x, y any) (float64, error) {
	switch x := x.(type) {
	case []int64:
		switch y := y.(type) {
		case []float32:
			return genericCorr(name, x, y)
		case []int64:
			return genericCorr(name, x, y)
		}
	case []float32:
		if y, ok := y.([]float32); ok {
			return genericCorr(name, x, y)
		}
	case []float64:
		if y, ok := y.([]float64); ok {
			return genericCorr(name, x, y)
		}
	}
	return 0, fmt.Errorf("no case for dtypes %T, %T", x, y)
}

func genericCorr[P, L Number](name string, x []P, y []L) (float64, error) {
	if name == NamePearson {
		return Pearson(x, y)
	}
	return Spearman(x, y)
}

func TestOracleCorrelation(t *testing.T) {
	nan := 0
	for _, c := range readOracle(t).Correlation {
		for _, m := range []struct{ name, want string }{{NamePearson, c.Pearson}, {NameSpearman, c.Spearman}} {
			got, err := typedCorr(m.name, c.X.values(), c.Y.values())
			if err != nil {
				t.Fatal(err)
			}
			want := bits64(t, m.want)
			if math.IsNaN(want) {
				nan++
			}
			if !same(got, want) {
				t.Errorf("%s of %s/%s n %d: %v, scipy %v (%.3g apart)", m.name, c.X.Kind, c.Y.Kind, c.X.N, got, want, got-want)
			}
		}
	}
	if nan == 0 {
		t.Error("the oracle has no constant-input case")
	}
}

func TestOracleClassification(t *testing.T) {
	for _, c := range readOracle(t).Classification {
		preds, labels := c.Preds.ints(), c.Labels.ints()
		if c.F1 != "" {
			got, err := F1(preds, labels)
			if err != nil {
				t.Fatal(err)
			}
			if want := bits64(t, c.F1); !same(got, want) {
				t.Errorf("f1 n %d: %v, sklearn %v", len(preds), got, want)
			}
		}
		got, err := MCC(preds, labels)
		if err != nil {
			t.Fatal(err)
		}
		if want := bits64(t, c.MCC); !same(got, want) {
			t.Errorf("mcc n %d (%d/%d classes): %v, sklearn %v", len(preds), int(c.Preds.A), int(c.Labels.A), got, want)
		}
	}
}
