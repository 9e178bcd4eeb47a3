package lmbff

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// Example is one row of a split, as the reference's InputExample holds it.
type Example struct {
	// GUID is the reference's guid ("train-12", "dev_matched-63735").
	GUID string
	// TextA and TextB are the sentences, verbatim. HasB is false for
	// single-sentence tasks.
	TextA, TextB string
	HasB         bool
	// Label is the raw label ("entailment", "0"); for CSV tasks the integer
	// label written in canonical form.
	Label string
	// LabelID is Label's index in Task.Labels; -1 for regression.
	LabelID int
	// Target is a regression task's float label.
	Target float64
	// File and Line locate the row.
	File string
	Line int
}

// Texts is the reference's input_example_to_tuple: [TextA] or [TextA, TextB].
func (e Example) Texts() []string {
	if e.HasB {
		return []string{e.TextA, e.TextB}
	}
	return []string{e.TextA}
}

// demoGroup is the label a demonstration is grouped under: the label itself,
// or for regression "0" (<= median) or "1".
func (t *Task) demoGroup(e Example) string {
	if t.Regression {
		if e.Target <= t.Median {
			return "0"
		}
		return "1"
	}
	return e.Label
}

// Path returns the file of split under dataDir.
func (t *Task) Path(dataDir string, split Split) (string, error) {
	f, ok := t.Files[split]
	if !ok {
		return "", fmt.Errorf("lmbff: task %s has no %s split", t.Name, split)
	}
	return filepath.Join(dataDir, f), nil
}

// Load reads split from dataDir (a k-shot directory such as
// k-shot/SST-2/16-42) as the task's reference processor does. Every row is
// checked: a missing column, an unknown label or bad UTF-8 is an error naming
// the file and line, as is a file with no examples.
func (t *Task) Load(dataDir string, split Split) ([]Example, error) {
	path, err := t.Path(dataDir, split)
	if err != nil {
		return nil, err
	}
	recs, err := t.Records(path)
	if err != nil {
		return nil, err
	}
	return t.Examples(path, split, recs)
}

// Examples turns the records of a split's file into examples (the
// processor's _create_examples). path is used in errors.
func (t *Task) Examples(path string, split Split, recs []Record) ([]Example, error) {
	setType := t.SetTypes[split]
	if setType == "" {
		setType = string(split)
	}
	var out []Example
	header := 0
	for i, r := range recs {
		if t.Header && i == 0 {
			header = len(r.Fields)
			continue
		}
		n := len(r.Fields)
		if n == 0 || n < t.MinFields {
			if t.SkipShort {
				continue
			}
			return nil, fmt.Errorf("lmbff: %s:%d: %s row has %d columns, want at least %d", path, r.Line, t.Name, n, t.MinFields)
		}
		for _, col := range []int{t.TextA, t.TextB, t.LabelCol, t.GUIDCol} {
			if col >= n {
				return nil, fmt.Errorf("lmbff: %s:%d: %s row has %d columns, column %d is missing", path, r.Line, t.Name, n, col)
			}
		}
		if t.SameFields && t.Header && n != header {
			return nil, fmt.Errorf("lmbff: %s:%d: %s row has %d columns, the header has %d", path, r.Line, t.Name, n, header)
		}
		field := func(col int) string {
			if col < 0 {
				col = n - 1
			}
			if r.NA != nil && r.NA[col] {
				return "" // pandas NaN; input_example_to_tuple makes it ""
			}
			return r.Fields[col]
		}
		ex := Example{File: path, Line: r.Line, LabelID: -1, TextA: field(t.TextA)}
		if t.TextB >= 0 {
			ex.TextB, ex.HasB = field(t.TextB), true
		}
		if t.GUIDCol >= 0 {
			ex.GUID = setType + "-" + r.Fields[t.GUIDCol]
		} else {
			ex.GUID = fmt.Sprintf("%s-%d", setType, i)
		}
		raw := field(t.LabelCol)
		if t.Regression {
			v, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
			if err != nil {
				return nil, fmt.Errorf("lmbff: %s:%d: %s label %q is not a number", path, r.Line, t.Name, raw)
			}
			ex.Label, ex.Target = raw, v
		} else {
			label := raw
			if t.Format == CSV {
				label = canonicalInt(raw)
			}
			id, ok := t.LabelIndex(label)
			if !ok {
				return nil, fmt.Errorf("lmbff: %s:%d: unknown %s label %q (labels: %s)", path, r.Line, t.Name, raw, strings.Join(t.Labels, ", "))
			}
			ex.Label, ex.LabelID = label, id
		}
		out = append(out, ex)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lmbff: %s: no examples", path)
	}
	return out, nil
}

// canonicalInt writes a numeric CSV label as pandas would hold it once the
// column is integral ("3", " 3", "3.0" -> "3"); anything else is returned
// unchanged, so that it fails the label lookup.
func canonicalInt(s string) string {
	t := strings.TrimSpace(s)
	if v, err := strconv.ParseInt(t, 10, 64); err == nil {
		return strconv.FormatInt(v, 10)
	}
	if v, err := strconv.ParseFloat(t, 64); err == nil && v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatInt(int64(v), 10)
	}
	return s
}
