package lmbff

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PartKind is the kind of one part of a template.
type PartKind int

// The kinds of template parts.
const (
	// PartSpecial is *cls*, *mask*, *sep*, *sep+*, *bos* or *eos*.
	PartSpecial PartKind = iota
	// PartSent is a sentence: *sent_i* and its variants.
	PartSent
	// PartLabel is *label_i*: the i-th label word.
	PartLabel
	// PartLabelX is *labelx_i*: the label word of the i-th demonstration
	// (GPT-3-style in-context learning).
	PartLabelX
	// PartLiteral is any other text, with "_" standing for a space.
	PartLiteral
)

// Special names a special token of a template.
type Special int

// The special tokens a template can name.
const (
	SpecialCLS Special = iota
	SpecialMask
	SpecialSEP
	SpecialSEPPlus // *sep+*: a separator that also starts a new segment (BERT only)
	SpecialBOS
	SpecialEOS
)

var specialNames = map[string]Special{
	"cls": SpecialCLS, "mask": SpecialMask, "sep": SpecialSEP,
	"sep+": SpecialSEPPlus, "bos": SpecialBOS, "eos": SpecialEOS,
}

// Part is one "*"-delimited piece of a template.
type Part struct {
	Kind PartKind
	// Raw is the part as written in the template.
	Raw     string
	Special Special
	// Index is the sentence index (PartSent), label index (PartLabel) or
	// demonstration index (PartLabelX).
	Index int
	// Sentence variants: Space prefixes " " (+), Lower/Upper change the
	// first character's case (l/u), DropLast deletes the last character
	// (-; a character, not a token, whatever LM-BFF's docstring says).
	Space, Lower, Upper, DropLast bool
	// Text is a literal's text with "_" replaced by " ".
	Text string
}

// sentForms are the sentence prefixes the reference understands, in the
// order it tests them, with what each does.
var sentForms = []struct {
	prefix                        string
	space, lower, upper, dropLast bool
}{
	{"sent_", false, false, false, false},
	{"+sent_", true, false, false, false},
	{"sent-_", false, false, false, true},
	{"sentl_", false, true, false, false},
	{"+sentl_", true, true, false, false},
	{"sentl-_", false, true, false, true},
	{"sentu_", false, false, true, false},
	{"+sentu_", true, false, true, false},
	{"+sentu-_", true, false, true, true},
}

// Template is a parsed LM-BFF template (tokenize_multipart_input's
// mini-language): the template split on "*", each part typed.
type Template struct {
	// Source is the template as given.
	Source string
	Parts  []Part
}

// TemplateError is a template that cannot be parsed, naming the part.
type TemplateError struct {
	Template string
	Part     string
	Index    int // position of the part in the "*"-split template
	Reason   string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("lmbff: template %q: part %d %q: %s", e.Template, e.Index, e.Part, e.Reason)
}

// ParseTemplate parses a template such as "*cls**sent_0*_It_was*mask*.*sep+*".
// The template is split on "*"; each part is then, as in the reference:
//
//	cls, mask, sep, sep+, bos, eos   a special token
//	label_i                          the i-th label word
//	labelx_i                         the label word of the i-th demonstration
//	sent_i, +sent_i, sent-_i, sentl_i, +sentl_i, sentl-_i,
//	sentu_i, +sentu_i, +sentu-_i     sentence i ("+": space before it,
//	                                 "l"/"u": first character lower/upper
//	                                 case, "-": last character dropped)
//	anything else                    literal text, "_" meaning a space; a
//	                                 one-character literal is looked up in
//	                                 the vocabulary directly, empty parts
//	                                 vanish
//
// Indices are decimal digits. Parts the reference would crash on are errors:
// a bad index, and a literal that the reference would mistake for a
// sentence (its text starts with "sent", or has "sent" after its first
// character, e.g. "+sentl-_0" or "sentence").
func ParseTemplate(src string) (*Template, error) {
	t := &Template{Source: src}
	for i, raw := range strings.Split(src, "*") {
		p, err := parsePart(raw)
		if err != nil {
			return nil, &TemplateError{Template: src, Part: raw, Index: i, Reason: err.Error()}
		}
		t.Parts = append(t.Parts, p)
	}
	return t, nil
}

func parsePart(raw string) (Part, error) {
	p := Part{Raw: raw}
	if sp, ok := specialNames[raw]; ok {
		p.Kind, p.Special = PartSpecial, sp
		return p, nil
	}
	if rest, ok := strings.CutPrefix(raw, "label_"); ok {
		p.Kind = PartLabel
		return p, parseIndex(rest, &p.Index)
	}
	if rest, ok := strings.CutPrefix(raw, "labelx_"); ok {
		p.Kind = PartLabelX
		return p, parseIndex(rest, &p.Index)
	}
	for _, f := range sentForms {
		if rest, ok := strings.CutPrefix(raw, f.prefix); ok {
			p.Kind = PartSent
			p.Space, p.Lower, p.Upper, p.DropLast = f.space, f.lower, f.upper, f.dropLast
			return p, parseIndex(rest, &p.Index)
		}
	}
	p.Kind = PartLiteral
	p.Text = strings.ReplaceAll(raw, "_", " ")
	// The reference then slices part[:4] and part[1:5] (code points) to
	// decide whether to apply a sentence limit, and fails on a match.
	if r := []rune(p.Text); strings.HasPrefix(p.Text, "sent") || (len(r) >= 5 && string(r[1:5]) == "sent") {
		return p, fmt.Errorf("not a sentence form the reference knows (sent_, +sent_, sent-_, sentl_, +sentl_, sentl-_, sentu_, +sentu_, +sentu-_), and as literal text the reference would fail on it")
	}
	return p, nil
}

func parseIndex(s string, idx *int) error {
	if s == "" {
		return fmt.Errorf("missing index")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return fmt.Errorf("bad index %q (want decimal digits)", s)
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v > 1<<20 {
		return fmt.Errorf("bad index %q", s)
	}
	*idx = v
	return nil
}

// HasMask reports whether the template has a *mask* part.
func (t *Template) HasMask() bool {
	for _, p := range t.Parts {
		if p.Kind == PartSpecial && p.Special == SpecialMask {
			return true
		}
	}
	return false
}

// NumSentences is one more than the largest sentence index used (0 when
// there is no sentence).
func (t *Template) NumSentences() int {
	n := 0
	for _, p := range t.Parts {
		if p.Kind == PartSent && p.Index+1 > n {
			n = p.Index + 1
		}
	}
	return n
}

// maxIndex is one more than the largest index of parts of kind k.
func (t *Template) maxIndex(k PartKind) int {
	n := 0
	for _, p := range t.Parts {
		if p.Kind == k && p.Index+1 > n {
			n = p.Index + 1
		}
	}
	return n
}

// String returns the template's source.
func (t *Template) String() string { return t.Source }

// AutoDemoTemplate extends a template for prompt-demo the way run.py does
// (auto_demo, no template list, no GPT-3 mode): the template without "*cls*"
// is appended once per label, with "_0"/"_1" renumbered to the demonstration
// sentences and "*mask*" replaced by that label's word. As in run.py the
// renumbering is a plain string replacement of "_<i>" on the template text;
// the template is a pair template when it contains "_1".
func AutoDemoTemplate(template string, numLabels int) string {
	old := strings.ReplaceAll(template, "*cls*", "")
	sentNum := 1
	if strings.Contains(old, "_1") {
		sentNum = 2
	}
	var b strings.Builder
	b.WriteString(template)
	for label := 0; label < numLabels; label++ {
		sub := old
		for sent := 0; sent < sentNum; sent++ {
			sub = strings.ReplaceAll(sub, fmt.Sprintf("_%d", sent), fmt.Sprintf("_%d", sentNum+sentNum*label+sent))
		}
		sub = strings.ReplaceAll(sub, "*mask*", fmt.Sprintf("*label_%d*", label))
		b.WriteString(sub)
	}
	return b.String()
}

// firstRune splits s into its first character and the rest.
func firstRune(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	_, n := utf8.DecodeRuneInString(s)
	return s[:n], s[n:]
}
