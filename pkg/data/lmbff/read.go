package lmbff

import (
	"fmt"

	"github.com/gomezo/gomezo/pkg/data/tabular"
)

// Record is one row of a data file: the 1-based line on which it starts, its
// fields and, for CSV, which of them pandas reads as NaN (the reference
// turns a NaN sentence into ""). See package tabular.
type Record = tabular.Record

// ErrEmptyFile is wrapped by the error for a file with no content (or, for
// CSV, with only blank lines).
var ErrEmptyFile = tabular.ErrEmptyFile

// Records reads the task's file at path as the reference processor does. A
// TSV file is read as DataProcessor._read_tsv does (python csv.reader with
// delimiter "\t" and no quoting, [tabular.ReadTSV]); a CSV file as
// pandas.read_csv(path, header=None) does ([tabular.ReadCSV]), every row
// having as many fields as the first ([tabular.CheckWidth]). Errors name the
// file and, where there is one, the line.
func (t *Task) Records(path string) ([]Record, error) {
	var (
		recs []Record
		err  error
	)
	if t.Format == CSV {
		recs, err = tabular.ReadCSV(path)
		if err == nil {
			err = tabular.CheckWidth(path, recs)
		}
	} else {
		recs, err = tabular.ReadTSV(path)
	}
	if err != nil {
		return nil, fmt.Errorf("lmbff: %w", err)
	}
	return recs, nil
}
