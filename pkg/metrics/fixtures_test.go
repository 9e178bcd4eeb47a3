package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/hf"
)

// The recorded reference runs: every run folder of shared/fixtures/
// mezo-reference-run, of the sets listed in MEZO_RUN_DIRS (same layout), and
// of mezo-reference-peft. Each has the logits of every evaluation in
// eval_logits.safetensors and what the reference computed from them in
// expected.json; the metrics, the dev objective, the best step and (within
// float32 rounding of a CE recomputed here) eval_loss must follow from the
// logits.

var runNames = []string{"mezo", "mezo-fwd", "ft", "zero-shot"}

func runDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	sets := append([]string{testenv.SharedPath(t, "fixtures", "mezo-reference-run")}, testenv.ListEnv("MEZO_RUN_DIRS")...)
	for _, set := range sets {
		for _, run := range runNames {
			dirs = append(dirs, filepath.Join(set, run))
		}
	}
	peft, err := filepath.Glob(testenv.SharedPath(t, "fixtures", "mezo-reference-peft", "*", "eval_logits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(peft) == 0 {
		t.Fatal("no mezo-reference-peft run found")
	}
	for _, p := range peft {
		dirs = append(dirs, filepath.Dir(p))
	}
	return dirs
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// recordedEval is one evaluation of expected.json: its eval_* metrics (and
// the fixture's own step, n_correct, objective, ...) as decoded JSON.
type recordedEval map[string]any

func (e recordedEval) float(t *testing.T, key string) float64 {
	t.Helper()
	v, ok := e[key].(float64)
	if !ok {
		t.Fatalf("eval lacks numeric %q: %v", key, e)
	}
	return v
}

type runFixture struct {
	EvalBatchSize int            `json:"eval_batch_size"`
	Evals         []recordedEval `json:"evals"`
	BestStep      *float64       `json:"best_step"`
	BestObjective *float64       `json:"best_objective"`
	Final         struct {
		Dev  recordedEval `json:"dev"`
		Test recordedEval `json:"test"`
	} `json:"final"`
	WhatIf *struct {
		Dev  recordedEval `json:"dev"`
		Test recordedEval `json:"test"`
	} `json:"final_if_best_ckpt_were_a_copy"`
}

type runArgs struct {
	Parsed struct {
		TaskName  string `json:"task_name"`
		NumSample int    `json:"num_sample"`
	} `json:"parsed_data_args"`
	Data struct {
		TaskName  string `json:"task_name"`
		NumSample int    `json:"num_sample"`
	} `json:"data_args"`
}

type logitFile struct {
	t  *testing.T
	sf *hf.SafetensorsFile
}

func (f logitFile) has(name string) bool { _, ok := f.sf.Info(name); return ok }

func (f logitFile) logits(name string) ([]float32, int) {
	f.t.Helper()
	ten, err := f.sf.Read(name)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := ten.Float32s()
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	if len(ten.Shape) != 2 {
		f.t.Fatalf("%s has shape %v, want [n, labels]", name, ten.Shape)
	}
	return v, int(ten.Shape[1])
}

func (f logitFile) labels(name string) []int64 {
	f.t.Helper()
	ten, err := f.sf.Read(name)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := ten.Int64s()
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	return v
}

// crossEntropyBatches is CrossEntropyLoss(mean) of each batch of logits,
// each example's −log_softmax[label] taken in float64 and rounded to
// float32, each batch's mean in float32: torch's own float32 kernels can
// differ from this in the last bit or two.
func crossEntropyBatches(logits []float32, width int, labels []int64, batch int) ([]float32, []int) {
	var means []float32
	var sizes []int
	for start := 0; start < len(labels); start += batch {
		end := min(start+batch, len(labels))
		var sum float32
		for i := start; i < end; i++ {
			row := logits[i*width : (i+1)*width]
			m := float64(slices.Max(row))
			var s float64
			for _, v := range row {
				s += math.Exp(float64(v) - m)
			}
			sum += float32(m + math.Log(s) - float64(row[labels[i]]))
		}
		means = append(means, sum/float32(end-start))
		sizes = append(sizes, end-start)
	}
	return means, sizes
}

// ulps is the distance between two positive float32 values in units in the
// last place.
func ulps(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		return -d
	}
	return d
}

func TestReferenceRuns(t *testing.T) {
	checked := 0
	for _, dir := range runDirs(t) {
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			var args runArgs
			readJSON(t, filepath.Join(dir, "args.json"), &args)
			name, numSample := args.Parsed.TaskName, args.Parsed.NumSample
			if name == "" {
				name, numSample = args.Data.TaskName, args.Data.NumSample
			}
			task, err := LookupTask(name)
			if err != nil {
				t.Fatal(err)
			}
			var fx runFixture
			readJSON(t, filepath.Join(dir, "expected.json"), &fx)
			sf, err := hf.OpenSafetensors(filepath.Join(dir, "eval_logits.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer sf.Close()
			lf := logitFile{t, sf}

			check := func(key, split string, rec recordedEval) float64 {
				t.Helper()
				labels := lf.labels("labels." + split)
				logits, width := lf.logits(key)
				if numSample > 1 && len(logits) == numSample*len(labels)*width {
					if logits, err = AverageSamples(logits, numSample, width); err != nil {
						t.Fatal(err)
					}
				}
				var res Result
				if width == 1 {
					res, err = Compute(task, logits, labels)
				} else {
					var preds []int
					if preds, err = Argmax(logits, width); err != nil {
						t.Fatal(err)
					}
					correct := 0
					for i, p := range preds {
						if int64(p) == labels[i] {
							correct++
						}
					}
					if n, ok := rec["n_correct"].(float64); ok && int(n) != correct {
						t.Errorf("%s: %d correct, recorded %v", key, correct, n)
					}
					res, err = Compute(task, preds, labels)
				}
				if err != nil {
					t.Fatal(err)
				}
				for k := range rec {
					metric, ok := strings.CutPrefix(k, "eval_")
					if !ok || metric == "loss" || strings.HasSuffix(k, "_f32") {
						continue
					}
					got, ok := res.Get(metric)
					if want := rec.float(t, k); !ok || !same(got, want) {
						t.Errorf("%s: %s = %v (present %v), recorded %v", key, metric, got, ok, want)
					}
				}
				if len(res) == 0 {
					t.Fatalf("%s: no metric", key)
				}
				if !task.Regression {
					means, sizes := crossEntropyBatches(logits, width, labels, fx.EvalBatchSize)
					loss, err := EvalLoss(means, sizes)
					if err != nil {
						t.Fatal(err)
					}
					want := float32(rec.float(t, "eval_loss"))
					if h, ok := rec["eval_loss_f32"].(string); ok {
						u, _ := strconv.ParseUint(h, 0, 32)
						want = math.Float32frombits(uint32(u))
					}
					// The CE here is not torch's kernel, so allow a few float32
					// units in the last place; the repeat-truncate-average
					// formula itself is checked bit for bit in oracle_test.go.
					if d := ulps(loss, want); d > 3 {
						t.Errorf("%s: eval_loss %v, recorded %v (%d ulp apart)", key, loss, want, d)
					}
				}
				objName, obj, err := DevObjective(res)
				if err != nil || objName != task.Objective {
					t.Errorf("%s: objective %s (%v), want %s", key, objName, err, task.Objective)
				}
				checked++
				return obj
			}

			best, bestStep := math.Inf(-1), -1.0
			for _, ev := range fx.Evals {
				step := ev.float(t, "step")
				obj := check(fmt.Sprintf("dev.step%d", int(step)), "dev", ev)
				if want, ok := ev["objective"].(float64); ok && !same(obj, want) {
					t.Errorf("step %v: objective %v, recorded %v", step, obj, want)
				}
				isBest := Better(obj, best)
				if want, ok := ev["is_new_best"].(bool); ok && want != isBest {
					t.Errorf("step %v: new best %v, recorded %v", step, isBest, want)
				}
				if isBest {
					best, bestStep = obj, step
				}
			}
			if fx.BestStep != nil && *fx.BestStep != bestStep {
				t.Errorf("best step %v, recorded %v", bestStep, *fx.BestStep)
			}
			if fx.BestObjective != nil && !same(*fx.BestObjective, best) {
				t.Errorf("best objective %v, recorded %v", best, *fx.BestObjective)
			}
			check("final.dev", "dev", fx.Final.Dev)
			check("final.test", "test", fx.Final.Test)
			if fx.WhatIf != nil && lf.has("whatif_true_best.dev") {
				check("whatif_true_best.dev", "dev", fx.WhatIf.Dev)
				check("whatif_true_best.test", "test", fx.WhatIf.Test)
			}
		})
	}
	if checked == 0 {
		t.Error("no evaluation checked")
	}
}
