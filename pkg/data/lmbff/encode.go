package lmbff

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Mode is the reference's few_shot_type.
type Mode string

// The input modes.
const (
	// ModePrompt renders the template and scores label words at <mask>.
	ModePrompt Mode = "prompt"
	// ModePromptDemo is ModePrompt with one demonstration per label
	// appended (the template is extended by AutoDemoTemplate).
	ModePromptDemo Mode = "prompt-demo"
	// ModeFinetune is "<s> A </s> [B </s>]" for a classification head; no
	// template.
	ModeFinetune Mode = "finetune"
)

// ParseMode accepts "prompt", "prompt-demo" or "finetune".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModePrompt, ModePromptDemo, ModeFinetune:
		return Mode(s), nil
	}
	return "", fmt.Errorf("lmbff: unknown mode %q (want prompt, prompt-demo or finetune)", s)
}

// Prompt reports whether the mode uses a template and label words.
func (m Mode) Prompt() bool { return m == ModePrompt || m == ModePromptDemo }

// Config holds the data arguments of the reference that shape an encoding.
type Config struct {
	Mode Mode
	// Template is the template as the user writes it (before the automatic
	// demonstration extension). Unused in finetune mode.
	Template string
	// Mapping is the label-to-word mapping (see ParseMapping).
	Mapping string
	// MaxLength is max_seq_length; prompt-demo with DoubleDemo doubles it.
	MaxLength int
	// FirstSentLimit and OtherSentLimit cut sentence 0, and every other
	// sentence, to that many tokens; 0 means no limit. They apply to
	// template sentences only (not to finetune mode).
	FirstSentLimit, OtherSentLimit int
	// TruncateHead keeps the last MaxLength tokens instead of the first;
	// the reference honours it in prompt-demo mode only.
	TruncateHead bool
	// DoubleDemo doubles MaxLength in prompt-demo mode.
	DoubleDemo bool
	// NumSample is the number of demonstration draws per dev/test example
	// in prompt-demo mode (their logits are averaged).
	NumSample int
	// NoAutoDemo keeps Template as given in prompt-demo mode (auto_demo
	// False): the template must already hold the demonstration blocks.
	NoAutoDemo bool
}

// DefaultConfig is the configuration the reference's run_fewshot.sh gives
// the task in mode.
func (t *Task) DefaultConfig(mode Mode) Config {
	d := t.Defaults
	return Config{
		Mode: mode, Template: d.Template, Mapping: d.Mapping, MaxLength: d.MaxLength,
		FirstSentLimit: d.FirstSentLimit, OtherSentLimit: d.OtherSentLimit,
		DoubleDemo: d.DoubleDemo, NumSample: d.NumSample,
	}
}

// LabelWordID returns the id of a label word as the reference computes it: a
// word starting with '<', '[', '.' or ',' is looked up in the vocabulary as
// written; any other word w must encode, as " "+w, to exactly one token (the
// "Ġ"-prefixed form), whose id is used. A word that is not a single token is
// an error naming it.
func LabelWordID(tok Tokenizer, word string) (int, error) {
	if word == "" {
		return 0, fmt.Errorf("lmbff: empty label word")
	}
	if strings.ContainsRune("<[.,", rune(word[0])) {
		id, ok := tok.TokenToID(word)
		if !ok {
			return 0, fmt.Errorf("lmbff: label word %q is not in the vocabulary (words starting with '<', '[', '.' or ',' are looked up as written)", word)
		}
		return id, nil
	}
	ids, err := tok.Encode(" " + word)
	if err != nil {
		return 0, fmt.Errorf("lmbff: label word %q: %w", word, err)
	}
	if len(ids) != 1 {
		return 0, fmt.Errorf("lmbff: label word %q is %d tokens with its leading space, not one", word, len(ids))
	}
	return ids[0], nil
}

// LabelWordIDs returns the label word ids of mapping in the task's label
// order (the reference's label_word_list). Every label needs a word.
func LabelWordIDs(tok Tokenizer, task *Task, mapping string) ([]int, error) {
	m, err := ParseMapping(mapping)
	if err != nil {
		return nil, err
	}
	keys := task.mappingKeys()
	for _, k := range m.Keys {
		found := false
		for _, l := range keys {
			found = found || k == l
		}
		if !found {
			return nil, fmt.Errorf("lmbff: mapping %q: %s has no label %q (labels: %s)", mapping, task.Name, k, strings.Join(keys, ", "))
		}
	}
	ids := make([]int, len(keys))
	for i, l := range keys {
		w, ok := m.Words[l]
		if !ok {
			return nil, fmt.Errorf("lmbff: mapping %q gives no word for %s label %q", mapping, task.Name, l)
		}
		if ids[i], err = LabelWordID(tok, w); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Encoder turns examples into features for one task and configuration.
type Encoder struct {
	Task   *Task
	Config Config
	// Template is the parsed template actually rendered (after the
	// demonstration extension in prompt-demo mode); nil in finetune mode.
	Template *Template
	// LabelWords are the label word ids in label order; nil in finetune
	// mode.
	LabelWords []int
	// MaxLength is the effective length cap (doubled by DoubleDemo in
	// prompt-demo mode).
	MaxLength int
	tok       Tokenizer
}

// NewEncoder checks cfg and prepares an encoder: it parses the mapping into
// label word ids and the template (extended for demonstrations in
// prompt-demo mode unless NoAutoDemo), and rejects a prompt template without
// *mask* or with a *label_i* beyond the labels.
func NewEncoder(tok Tokenizer, task *Task, cfg Config) (*Encoder, error) {
	if tok == nil {
		return nil, errors.New("lmbff: nil tokenizer")
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.MaxLength <= 0 {
		return nil, fmt.Errorf("lmbff: max length %d: must be positive", cfg.MaxLength)
	}
	if cfg.FirstSentLimit < 0 || cfg.OtherSentLimit < 0 {
		return nil, fmt.Errorf("lmbff: sentence limits must not be negative")
	}
	e := &Encoder{Task: task, Config: cfg, MaxLength: cfg.MaxLength, tok: tok}
	if cfg.Mode == ModePromptDemo {
		if cfg.DoubleDemo {
			e.MaxLength *= 2
		}
		if cfg.NumSample <= 0 {
			return nil, fmt.Errorf("lmbff: num_sample %d: must be positive", cfg.NumSample)
		}
	}
	if !cfg.Mode.Prompt() {
		return e, nil
	}
	if cfg.Mapping == "" {
		return nil, fmt.Errorf("lmbff: %s mode needs a label word mapping", cfg.Mode)
	}
	var err error
	if e.LabelWords, err = LabelWordIDs(tok, task, cfg.Mapping); err != nil {
		return nil, err
	}
	src := cfg.Template
	if src == "" {
		return nil, fmt.Errorf("lmbff: %s mode needs a template", cfg.Mode)
	}
	if cfg.Mode == ModePromptDemo && !cfg.NoAutoDemo {
		src = AutoDemoTemplate(src, task.refNumLabels())
	}
	if e.Template, err = ParseTemplate(src); err != nil {
		return nil, err
	}
	if !e.Template.HasMask() {
		return nil, fmt.Errorf("lmbff: template %q has no *mask* part (required in %s mode)", src, cfg.Mode)
	}
	if n := e.Template.maxIndex(PartLabel); n > len(e.LabelWords) {
		return nil, fmt.Errorf("lmbff: template %q uses *label_%d* but %s has %d label words", src, n-1, task.Name, len(e.LabelWords))
	}
	return e, nil
}

// Feature is one encoded example, unpadded.
type Feature struct {
	InputIDs      []int
	AttentionMask []int
	// MaskPos is the index of the first <mask>; -1 in finetune mode.
	MaskPos int
	// LabelID is the label's index (-1 for regression or no label).
	LabelID int
	// Target is a regression label.
	Target float64
	// UntruncatedLength is the length before truncation to MaxLength.
	UntruncatedLength int
	// QueryIndex and SampleIndex locate the feature in a Dataset:
	// the example's index in its split and the demonstration draw.
	QueryIndex, SampleIndex int
	// Demos are the indices (into the training split) of the
	// demonstrations, in label order; DemoSelection the same in the order
	// they were drawn. Both nil outside prompt-demo mode.
	Demos, DemoSelection []int
}

// MaskTruncatedError is the reference's assertion "Mask token not found for
// input": truncation to MaxLength removed the <mask>.
type MaskTruncatedError struct {
	// MaskIndex is where <mask> was before truncation (-1 if it never was).
	MaskIndex         int
	UntruncatedLength int
	MaxLength         int
	TruncateHead      bool
}

func (e *MaskTruncatedError) Error() string {
	if e.MaskIndex < 0 {
		return "lmbff: the rendered input has no <mask>"
	}
	side := "tail"
	if e.TruncateHead {
		side = "head"
	}
	return fmt.Sprintf("lmbff: <mask> at index %d of %d tokens is cut by %s truncation to max length %d (shorten the sentence with first_sent_limit/other_sent_limit or raise the max length)",
		e.MaskIndex, e.UntruncatedLength, side, e.MaxLength)
}

// Render is the reference's tokenize_multipart_input for texts (the query's
// sentences, then in prompt-demo mode the demonstrations' sentences in
// label order). supportLabels gives the label index of each demonstration
// for *labelx_i* parts (GPT-3-style in-context templates) and may be nil
// otherwise. In prompt modes a <mask> cut away by truncation is a
// *MaskTruncatedError.
func (e *Encoder) Render(texts []string, supportLabels []int) (Feature, error) {
	f := Feature{MaskPos: -1, LabelID: -1}
	var ids []int
	if e.Template == nil {
		ids = append(ids, e.tok.CLS())
		for _, text := range texts {
			enc, err := e.tok.Encode(text)
			if err != nil {
				return f, fmt.Errorf("lmbff: encode %q: %w", text, err)
			}
			ids = append(ids, enc...)
			ids = append(ids, e.tok.SEP())
		}
	} else {
		for _, p := range e.Template.Parts {
			toks, err := e.part(p, texts, supportLabels)
			if err != nil {
				return f, err
			}
			ids = append(ids, toks...)
		}
	}
	f.UntruncatedLength = len(ids)
	maxLen := e.MaxLength
	truncHead := e.Config.TruncateHead && e.Config.Mode == ModePromptDemo
	if len(ids) > maxLen {
		if truncHead {
			ids = ids[len(ids)-maxLen:]
		} else {
			ids = ids[:maxLen]
		}
	}
	f.InputIDs = ids
	f.AttentionMask = make([]int, len(ids))
	for i := range f.AttentionMask {
		f.AttentionMask[i] = 1
	}
	if e.Template != nil {
		mask := e.tok.Mask()
		for i, id := range ids {
			if id == mask {
				f.MaskPos = i
				break
			}
		}
		if f.MaskPos < 0 {
			// Find where the mask was, for the message.
			before := -1
			all, _ := e.renderAll(texts, supportLabels)
			for i, id := range all {
				if id == mask {
					before = i
					break
				}
			}
			return f, &MaskTruncatedError{MaskIndex: before, UntruncatedLength: f.UntruncatedLength, MaxLength: maxLen, TruncateHead: truncHead}
		}
	}
	return f, nil
}

// renderAll renders the template parts without truncation.
func (e *Encoder) renderAll(texts []string, supportLabels []int) ([]int, error) {
	var ids []int
	for _, p := range e.Template.Parts {
		toks, err := e.part(p, texts, supportLabels)
		if err != nil {
			return nil, err
		}
		ids = append(ids, toks...)
	}
	return ids, nil
}

// part renders one template part.
func (e *Encoder) part(p Part, texts []string, supportLabels []int) ([]int, error) {
	switch p.Kind {
	case PartSpecial:
		return []int{e.specialID(p.Special)}, nil
	case PartLabel:
		if p.Index >= len(e.LabelWords) {
			return nil, fmt.Errorf("lmbff: template part %q: only %d label words", p.Raw, len(e.LabelWords))
		}
		return []int{e.LabelWords[p.Index]}, nil
	case PartLabelX:
		if p.Index >= len(supportLabels) {
			return nil, fmt.Errorf("lmbff: template part %q: only %d demonstration labels", p.Raw, len(supportLabels))
		}
		l := supportLabels[p.Index]
		if l < 0 || l >= len(e.LabelWords) {
			return nil, fmt.Errorf("lmbff: template part %q: demonstration label %d has no word", p.Raw, l)
		}
		return []int{e.LabelWords[l]}, nil
	case PartSent:
		if p.Index >= len(texts) {
			return nil, fmt.Errorf("lmbff: template part %q: the input has %d sentences", p.Raw, len(texts))
		}
		text := texts[p.Index]
		if p.Lower {
			text = pyLowerFirst(text)
		}
		if p.Upper {
			text = pyUpperFirst(text)
		}
		if p.DropLast {
			text = dropLastRune(text)
		}
		if p.Space {
			text = " " + text
		}
		toks, err := e.tok.Encode(text)
		if err != nil {
			return nil, fmt.Errorf("lmbff: encode %q: %w", text, err)
		}
		limit := e.Config.OtherSentLimit
		if p.Index == 0 {
			limit = e.Config.FirstSentLimit
		}
		if limit > 0 && len(toks) > limit {
			toks = toks[:limit]
		}
		return toks, nil
	default: // PartLiteral
		if utf8.RuneCountInString(p.Text) == 1 {
			if id, ok := e.tok.TokenToID(p.Text); ok {
				return []int{id}, nil
			}
			return []int{e.tok.UNK()}, nil // convert_tokens_to_ids gives <unk>
		}
		toks, err := e.tok.Encode(p.Text)
		if err != nil {
			return nil, fmt.Errorf("lmbff: encode %q: %w", p.Text, err)
		}
		return toks, nil
	}
}

func (e *Encoder) specialID(s Special) int {
	switch s {
	case SpecialCLS:
		return e.tok.CLS()
	case SpecialMask:
		return e.tok.Mask()
	case SpecialBOS:
		return e.tok.BOS()
	case SpecialEOS:
		return e.tok.EOS()
	default: // sep, sep+
		return e.tok.SEP()
	}
}

// EncodeExample is the reference's convert_fn: it renders ex (with demos, its
// demonstrations in label order, in prompt-demo mode) and attaches the label.
func (e *Encoder) EncodeExample(ex Example, demos []Example) (Feature, error) {
	texts := ex.Texts()
	var supportLabels []int
	if e.Config.Mode == ModePromptDemo {
		for _, d := range demos {
			texts = append(texts, d.Texts()...)
			supportLabels = append(supportLabels, d.LabelID)
		}
	}
	f, err := e.Render(texts, supportLabels)
	if err != nil {
		return f, err
	}
	f.LabelID, f.Target = ex.LabelID, ex.Target
	return f, nil
}
