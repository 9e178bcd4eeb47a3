package largemodels

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/gomezo/gomezo/pkg/data/tabular"
)

// ReadJSONL reads samples of t from a JSON-lines file holding one record
// per line as Hugging Face datasets writes them (Dataset.to_json): the
// text fields as strings and "label" as an integer, or for BoolQ "answer"
// as a boolean (true is candidate 0, "Yes").
func ReadJSONL(t *Task, path string) ([]Sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("largemodels: %w", err)
	}
	var out []Sample
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("largemodels: %s:%d: %v", path, line, err)
		}
		d := map[string]string{}
		for k, v := range rec {
			if s, ok := v.(string); ok {
				d[k] = s
			}
		}
		label := -1
		switch v := rec["label"].(type) {
		case float64:
			label = int(v)
		}
		if t.Name == "BoolQ" {
			a, ok := rec["answer"].(bool)
			if !ok {
				return nil, fmt.Errorf("largemodels: %s:%d: BoolQ record needs a boolean \"answer\"", path, line)
			}
			label = 1
			if a {
				label = 0
			}
		}
		s, err := t.NewSample(d, label)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("largemodels: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("largemodels: %s holds no samples", path)
	}
	return out, nil
}

// ReadGLUETSV reads SST2 or RTE samples from a GLUE-format TSV (the
// layout of ../shared/data/original): SST-2's "sentence\tlabel" with labels
// 0/1, RTE's "index\tsentence1\tsentence2\tlabel" with labels entailment /
// not_entailment, which become SuperGLUE RTE's premise, hypothesis and
// labels 0 / 1 (the same examples large_models loads from super_glue).
func ReadGLUETSV(t *Task, path string) ([]Sample, error) {
	recs, err := tabular.ReadTSV(path)
	if err != nil {
		return nil, err
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("largemodels: %s: no samples after the header", path)
	}
	col := map[string]int{}
	for i, h := range recs[0].Fields {
		col[h] = i
	}
	need := map[string][]string{"SST2": {"sentence", "label"}, "RTE": {"sentence1", "sentence2", "label"}}[t.Name]
	if need == nil {
		return nil, fmt.Errorf("largemodels: task %s has no GLUE TSV form (SST2 and RTE do)", t.Name)
	}
	for _, h := range need {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("largemodels: %s: header has no %q column (want %v)", path, h, need)
		}
	}
	var out []Sample
	for _, r := range recs[1:] {
		get := func(h string) (string, error) {
			if col[h] >= len(r.Fields) {
				return "", fmt.Errorf("largemodels: %s:%d: no %s field", path, r.Line, h)
			}
			return r.Fields[col[h]], nil
		}
		lab, err := get("label")
		if err != nil {
			return nil, err
		}
		var s Sample
		if t.Name == "SST2" {
			sent, err := get("sentence")
			if err != nil {
				return nil, err
			}
			l, err := strconv.Atoi(lab)
			if err != nil {
				return nil, fmt.Errorf("largemodels: %s:%d: label %q is not 0 or 1", path, r.Line, lab)
			}
			s, err = t.NewSample(map[string]string{"sentence": sent}, l)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, r.Line, err)
			}
		} else {
			p, err := get("sentence1")
			if err != nil {
				return nil, err
			}
			h, err := get("sentence2")
			if err != nil {
				return nil, err
			}
			l := map[string]int{"entailment": 0, "not_entailment": 1}[lab]
			if lab != "entailment" && lab != "not_entailment" {
				return nil, fmt.Errorf("largemodels: %s:%d: label %q, want entailment or not_entailment", path, r.Line, lab)
			}
			if s, err = t.NewSample(map[string]string{"premise": p, "hypothesis": h}, l); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, r.Line, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}
