package lmbff

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/gomezo/gomezo/pkg/nprand"
)

// EncodeRequest names a split to encode for inspection (`mezo data encode`).
type EncodeRequest struct {
	Task    *Task
	DataDir string
	Split   Split
	Config  Config
	// Seed seeds numpy's RandomState for the demonstration draws, as the
	// reference's set_seed does before it builds the datasets.
	Seed uint32
}

// encodedLine is one output line of WriteEncoded.
type encodedLine struct {
	InputIDs      []int `json:"input_ids"`
	AttentionMask []int `json:"attention_mask"`
	MaskPos       *int  `json:"mask_pos"`
	LabelID       int   `json:"label_id"`
}

// WriteEncoded encodes every feature of a split and writes one JSON line
// {"input_ids": [...], "attention_mask": [...], "mask_pos": N, "label_id": N}
// per feature, unpadded; mask_pos is null in finetune mode. Features come in
// Dataset order: for the training split each example once, in file order,
// with demonstrations drawn from one RandomState seeded with req.Seed; for
// dev and test, in prompt-demo mode, NumSample draws per example,
// sample-major.
func WriteEncoded(w io.Writer, tok Tokenizer, req EncodeRequest) error {
	enc, err := NewEncoder(tok, req.Task, req.Config)
	if err != nil {
		return err
	}
	support, err := req.Task.Load(req.DataDir, SplitTrain)
	if err != nil {
		return err
	}
	query := support
	if req.Split != SplitTrain {
		if query, err = req.Task.Load(req.DataDir, req.Split); err != nil {
			return err
		}
	}
	rng := nprand.New(req.Seed)
	ds, err := NewDataset(enc, req.Split, support, query, rng)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	je := json.NewEncoder(bw)
	for i := range ds.Len() {
		f, err := ds.Get(i, rng)
		if err != nil {
			return err
		}
		line := encodedLine{InputIDs: f.InputIDs, AttentionMask: f.AttentionMask, LabelID: f.LabelID}
		if f.MaskPos >= 0 {
			line.MaskPos = &f.MaskPos
		}
		if err := je.Encode(line); err != nil {
			return fmt.Errorf("lmbff: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("lmbff: write: %w", err)
	}
	return nil
}

// WriteLabelWords writes {"label_word_ids": [...]}: the label word ids of
// the configuration's mapping, in the task's label order.
func WriteLabelWords(w io.Writer, tok Tokenizer, task *Task, cfg Config) error {
	if !cfg.Mode.Prompt() {
		return fmt.Errorf("lmbff: %s mode has no label words", cfg.Mode)
	}
	ids, err := LabelWordIDs(tok, task, cfg.Mapping)
	if err != nil {
		return err
	}
	b, err := json.Marshal(map[string][]int{"label_word_ids": ids})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("lmbff: write: %w", err)
	}
	return nil
}
