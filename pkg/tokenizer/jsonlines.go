package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// JSONLine is one output line of RunJSONLines.
type JSONLine struct {
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// RunJSONLines reads JSON objects, one per line, from r and writes for each
// one line {"ids": [...], "tokens": [...]} to w: the encoding of its "text"
// field (other fields are ignored), with <s> and </s> around it when special.
// Empty text gives empty lists, never null. Blank input lines are skipped and
// give no output. A line that is not a JSON object with a string "text" field
// stops the run with an error naming its line number (1-based); the lines
// before it have been written.
func RunJSONLines(t *Tokenizer, r io.Reader, w io.Writer, special bool) error {
	if t == nil {
		return errors.New("tokenizer: RunJSONLines: nil tokenizer")
	}
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			bw.Flush()
			return fmt.Errorf("reading input line %d: %w", lineNo, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var rec struct {
				Text *string `json:"text"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				bw.Flush()
				return fmt.Errorf("input line %d: not a JSON object with a string \"text\" field: %v", lineNo, err)
			}
			if rec.Text == nil {
				bw.Flush()
				return fmt.Errorf("input line %d: no \"text\" field (or it is null)", lineNo)
			}
			ids, toks, err := t.EncodeWithTokens(*rec.Text)
			if err != nil {
				bw.Flush()
				return fmt.Errorf("input line %d: %w", lineNo, err)
			}
			if special {
				ids = append(append([]int{t.CLS()}, ids...), t.SEP())
				toks = append(append([]string{t.idToTok[t.CLS()]}, toks...), t.idToTok[t.SEP()])
			}
			if err := enc.Encode(JSONLine{IDs: ids, Tokens: toks}); err != nil {
				return fmt.Errorf("writing output for input line %d: %w", lineNo, err)
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	return bw.Flush()
}
