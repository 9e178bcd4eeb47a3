// Package largemodels is MeZO large_models' data side for decoder models
// (OPT): its classification and multiple-choice tasks (tasks.py), their
// prompts (templates.py) and encode_prompt (utils.py), which turns an
// example into one token sequence per candidate plus the number of option
// tokens that end each one. The sequences feed
// objective.NewCandidates (left padding) for candidate scoring and the
// train_as_classification / only_train_option losses. Pure Go: no libtorch.
//
// Supported tasks: SST2, RTE, CB, BoolQ, WIC, WSC, MultiRC, Copa. The
// generation tasks (SQuAD, DROP) and ReCoRD (a list of gold answers) are
// not supported.
package largemodels

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomezo/gomezo/pkg/tokenizer"
)

// Sample is one example: its text fields under the names the Hugging Face
// datasets large_models loads use (sentence; premise, hypothesis; passage,
// question; ...), its candidates and the index of the correct one.
type Sample struct {
	Data       map[string]string
	Candidates []string
	Correct    int
}

// Task is one of large_models' tasks.
type Task struct {
	// Name is large_models' task name (--task_name).
	Name string
	// Fields are the text fields a sample needs.
	Fields []string
	// Verbalizer maps a label index to its word for label-candidate tasks
	// (SST2: terrible, great); nil when the candidates are texts of the
	// sample (Copa's choices) or fixed words (BoolQ's Yes/No).
	Verbalizer []string
	// prompt is the template's encode (candidate < 0) and verbalize.
	prompt func(d map[string]string, candidate string) string
	// candidates returns a sample's candidates (the verbalizer's labels
	// when nil).
	candidates func(d map[string]string) []string
}

// TrainSep joins in-context demonstrations (every supported task's).
const TrainSep = "\n\n"

// verbalized is a template whose candidates are label indices shown as
// words: encode gives the prompt, verbalize the prompt followed by the word.
func verbalized(prompt func(d map[string]string) string) func(map[string]string, string) string {
	return func(d map[string]string, cand string) string {
		p := prompt(d)
		if cand == "" {
			return p
		}
		return p + cand
	}
}

var tasks = map[string]*Task{
	"SST2": {Name: "SST2", Fields: []string{"sentence"}, Verbalizer: []string{"terrible", "great"},
		// SST2Template: f"{text} It was" / f"{text} It was {word}".
		prompt: func(d map[string]string, cand string) string {
			text := pyStrip(d["sentence"])
			if cand == "" {
				return text + " It was"
			}
			return text + " It was " + cand
		}},
	"RTE": {Name: "RTE", Fields: []string{"premise", "hypothesis"}, Verbalizer: []string{"Yes", "No"},
		prompt: verbalized(func(d map[string]string) string {
			return d["premise"] + "\nDoes this mean that \"" + d["hypothesis"] + "\" is true? Yes or No?\n"
		})},
	"CB": {Name: "CB", Fields: []string{"premise", "hypothesis"}, Verbalizer: []string{"Yes", "No", "Maybe"},
		prompt: verbalized(func(d map[string]string) string {
			return "Suppose " + d["premise"] + " Can we infer that \"" + d["hypothesis"] + "\"? Yes, No, or Maybe?\n"
		})},
	"WIC": {Name: "WIC", Fields: []string{"sentence1", "sentence2", "word"}, Verbalizer: []string{"No", "Yes"},
		prompt: verbalized(func(d map[string]string) string {
			return "Does the word \"" + d["word"] + "\" have the same meaning in these two sentences? Yes, No?\n" +
				d["sentence1"] + "\n" + d["sentence2"] + "\n"
		})},
	"WSC": {Name: "WSC", Fields: []string{"text", "span1_text", "span2_text"}, Verbalizer: []string{"No", "Yes"},
		prompt: verbalized(func(d map[string]string) string {
			return d["text"] + "\nIn the previous sentence, does the pronoun \"" + strings.ToLower(d["span2_text"]) +
				"\" refer to " + d["span1_text"] + "? Yes or No?\n"
		})},
	"MultiRC": {Name: "MultiRC", Fields: []string{"paragraph", "question", "answer"}, Verbalizer: []string{"No", "Yes"},
		prompt: verbalized(func(d map[string]string) string {
			return d["paragraph"] + "\nQuestion: " + d["question"] + "\nI found this answer \"" + d["answer"] +
				"\". Is that correct? Yes or No?\n"
		})},
	// BoolQ uses BoolQTemplateV3 (get_template's default version 2).
	"BoolQ": {Name: "BoolQ", Fields: []string{"passage", "question"},
		prompt: func(d map[string]string, cand string) string {
			q := d["question"]
			if !strings.HasSuffix(q, "?") {
				q += "?"
			}
			q = upperFirst(q)
			p := d["passage"] + " " + q + "\n"
			return p + cand
		},
		candidates: func(map[string]string) []string { return []string{"Yes", "No"} }},
	// CopaTemplate with capitalization "correct".
	"Copa": {Name: "Copa", Fields: []string{"premise", "question", "choice1", "choice2"},
		prompt: func(d map[string]string, cand string) string {
			premise := strings.TrimRightFunc(d["premise"], pyIsSpace)
			premise = strings.TrimSuffix(premise, ".")
			conj := " so "
			if d["question"] == "cause" {
				conj = " because "
			}
			p := premise + conj
			if cand == "" {
				return p
			}
			words := strings.Split(cand, " ")
			if words[0] != "I" {
				words[0] = pyLower(words[0])
			}
			return p + strings.Join(words, " ")
		},
		candidates: func(d map[string]string) []string { return []string{d["choice1"], d["choice2"]} }},
}

// LookupTask returns the task large_models calls name.
func LookupTask(name string) (*Task, error) {
	if t, ok := tasks[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("largemodels: unknown task %q (supported: %s)", name, strings.Join(TaskNames(), ", "))
}

// TaskNames lists the supported tasks, sorted.
func TaskNames() []string {
	var out []string
	for n := range tasks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewSample checks data against the task and builds the sample whose
// correct candidate is label: a label index for verbalizer tasks, BoolQ's
// answer (0 = "Yes" for true, 1 = "No"), Copa's label (0 = choice1).
func (t *Task) NewSample(data map[string]string, label int) (Sample, error) {
	var missing []string
	for _, f := range t.Fields {
		if _, ok := data[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return Sample{}, fmt.Errorf("largemodels: %s sample lacks field(s) %s", t.Name, strings.Join(missing, ", "))
	}
	if t.Name == "Copa" && data["question"] != "cause" && data["question"] != "effect" {
		return Sample{}, fmt.Errorf("largemodels: Copa sample has question %q, want cause or effect", data["question"])
	}
	s := Sample{Data: data, Correct: label}
	if t.candidates != nil {
		s.Candidates = t.candidates(data)
	} else {
		s.Candidates = t.Verbalizer
	}
	if label < 0 || label >= len(s.Candidates) {
		return Sample{}, fmt.Errorf("largemodels: %s sample has label %d, want 0…%d", t.Name, label, len(s.Candidates)-1)
	}
	return s, nil
}

// Encode is the template's encode: the prompt without a candidate.
func (t *Task) Encode(s Sample) string { return t.prompt(s.Data, "") }

// Verbalize is the template's verbalize: the prompt followed by candidate c.
func (t *Task) Verbalize(s Sample, c int) string { return t.prompt(s.Data, s.Candidates[c]) }

// Encoded is one sample as token sequences: one per candidate (BOS first),
// each ending in OptionLen[c] option tokens, and the correct candidate.
type Encoded struct {
	Seqs      [][]int
	OptionLen []int
	Correct   int
}

// EncodePrompt is large_models' encode_prompt for a classification or
// multiple-choice sample: demos (in-context demonstrations, verbalized with
// their correct candidate, joined by TrainSep) then the sample verbalized
// with each candidate, each encoded with bos first and cut to maxLength
// keeping bos and the last maxLength−1 tokens. A candidate's option length
// is the difference between the token counts of the verbalized and the
// unverbalized prompt, as the reference measures it.
func EncodePrompt(tok *tokenizer.Tokenizer, t *Task, demos []Sample, s Sample, maxLength, bos int) (Encoded, error) {
	if maxLength < 2 {
		return Encoded{}, fmt.Errorf("largemodels: max_length %d is below 2", maxLength)
	}
	var parts []string
	for _, d := range demos {
		parts = append(parts, pyStrip(t.Verbalize(d, d.Correct)))
	}
	train := pyStrip(strings.Join(parts, TrainSep))
	enc := func(text string) ([]int, error) { return tok.EncodeDecoder(text, bos) }
	u, err := enc(strings.Trim(t.Encode(s), " "))
	if err != nil {
		return Encoded{}, err
	}
	out := Encoded{Correct: s.Correct}
	for c := range s.Candidates {
		v := strings.Trim(t.Verbalize(s, c), " ")
		vi, err := enc(v)
		if err != nil {
			return Encoded{}, err
		}
		final := strings.Trim(strings.TrimLeftFunc(train+TrainSep+v, pyIsSpace), " ")
		ids, err := enc(final)
		if err != nil {
			return Encoded{}, err
		}
		if len(ids) > maxLength {
			ids = append([]int{ids[0]}, ids[len(ids)-(maxLength-1):]...)
		}
		out.Seqs = append(out.Seqs, ids)
		out.OptionLen = append(out.OptionLen, len(vi)-len(u))
	}
	return out, nil
}

// Gold returns the correct candidate's sequence and option length (the
// only_train_option loss's row).
func (e Encoded) Gold() ([]int, int) { return e.Seqs[e.Correct], e.OptionLen[e.Correct] }

func pyIsSpace(r rune) bool { return tokenizer.IsPythonSpace(r) }

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// upperFirst is q[0].upper() + q[1:] for one code point.
func upperFirst(q string) string {
	for i, r := range q {
		return strings.ToUpper(string(r)) + q[i+len(string(r)):]
	}
	return q
}

// pyLower is str.lower (Go's ToLower agrees on the letters that occur here).
func pyLower(s string) string { return strings.ToLower(s) }
