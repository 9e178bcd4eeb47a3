package lmbff

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tm, err := ParseTemplate("*cls**sent-_0*?*mask*,*+sentl_1**sep+*")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []PartKind
	for _, p := range tm.Parts {
		kinds = append(kinds, p.Kind)
	}
	want := []PartKind{PartLiteral, PartSpecial, PartLiteral, PartSent, PartLiteral, PartSpecial, PartLiteral,
		PartSent, PartLiteral, PartSpecial, PartLiteral}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	s0, s1 := tm.Parts[3], tm.Parts[7]
	if s0.Index != 0 || !s0.DropLast || s0.Space || s1.Index != 1 || !s1.Space || !s1.Lower {
		t.Fatalf("sentence parts %+v %+v", s0, s1)
	}
	if !tm.HasMask() || tm.NumSentences() != 2 {
		t.Fatalf("HasMask %v NumSentences %d", tm.HasMask(), tm.NumSentences())
	}
	lit, _ := ParseTemplate("*cls*_It_was*mask*")
	if lit.Parts[2].Text != " It was" {
		t.Fatalf("literal %q", lit.Parts[2].Text)
	}
	for _, src := range []string{"*+sentu-_3*", "*sentl-_2*", "*sentu_0*", "*label_4*", "*labelx_10*", "*eos**bos**sep*"} {
		if _, err := ParseTemplate(src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"*cls**sent_x*", `part 3 "sent_x": bad index "x"`},
		{"*cls**sent_*", "missing index"},
		{"*label_-1*", `bad index "-1"`},
		{"*labelx_*", "missing index"},
		{"*sent_0_1*", `bad index "0_1"`},
		{"*+sentl-_0*", "not a sentence form"},
		{"*sentu-_0*", "not a sentence form"},
		{"*+sent-_0*", "not a sentence form"},
		{"*cls*sentiment_is*mask*", "not a sentence form"},
		{"*cls*_sentence*mask*", "not a sentence form"},
	} {
		_, err := ParseTemplate(tc.src)
		var te *TemplateError
		if !errors.As(err, &te) {
			t.Errorf("%s: error %v, want a TemplateError", tc.src, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q lacks %q", tc.src, err, tc.want)
		}
	}
}

func TestAutoDemoTemplate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"*cls**sent_0*_It_was*mask*.*sep+*", 2,
			"*cls**sent_0*_It_was*mask*.*sep+**sent_1*_It_was*label_0*.*sep+**sent_2*_It_was*label_1*.*sep+*"},
		{"*cls**sent-_0*?*mask*,*+sentl_1**sep+*", 2,
			"*cls**sent-_0*?*mask*,*+sentl_1**sep+**sent-_2*?*label_0*,*+sentl_3**sep+**sent-_4*?*label_1*,*+sentl_5**sep+*"},
		{"*cls**mask*:*+sent_0**sep+*", 3,
			"*cls**mask*:*+sent_0**sep+**label_0*:*+sent_1**sep+**label_1*:*+sent_2**sep+**label_2*:*+sent_3**sep+*"},
	} {
		if got := AutoDemoTemplate(tc.in, tc.n); got != tc.want {
			t.Errorf("AutoDemoTemplate(%q, %d) =\n %q, want\n %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// FuzzParseTemplate checks that parsing never panics, that a parsed
// template keeps one part per "*"-separated piece, and that parts keep
// their raw text.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"*cls**sent_0*_It_was*mask*.*sep+*", "*cls**sent-_0*?*mask*,*+sentl_1**sep+*", "*cls**mask*:*+sent_0**sep+*",
		"*label_99999999999999999999*", "*sent_*", "**", "", "*_*", "*+sentu-_0**labelx_3*", "*é*sent\xff*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tm, err := ParseTemplate(src)
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a TemplateError", err)
			}
			return
		}
		raw := strings.Split(src, "*")
		if len(tm.Parts) != len(raw) {
			t.Fatalf("%d parts for %d pieces", len(tm.Parts), len(raw))
		}
		for i, p := range tm.Parts {
			if p.Raw != raw[i] {
				t.Fatalf("part %d raw %q, want %q", i, p.Raw, raw[i])
			}
			if p.Index < 0 {
				t.Fatalf("negative index")
			}
		}
		_ = AutoDemoTemplate(src, 3)
		if !tm.HasMask() {
			return
		}
		// Rendering must not panic either, and a found mask is in range.
		task, _ := LookupTask("SST-2")
		cfg := task.DefaultConfig(ModePrompt)
		cfg.Template, cfg.MaxLength, cfg.FirstSentLimit, cfg.OtherSentLimit = src, 12, 3, 2
		enc, err := NewEncoder(newFakeTok(), task, cfg)
		if err != nil {
			return
		}
		f, err := enc.Render([]string{"It is fine.", "Paris", "ß"}, []int{1, 0})
		if err == nil && (f.MaskPos < 0 || f.MaskPos >= len(f.InputIDs) || len(f.InputIDs) > 12) {
			t.Fatalf("feature %+v", f)
		}
	})
}

func TestParseMapping(t *testing.T) {
	for _, tc := range []struct {
		in   string
		keys []string
		vals []string
	}{
		{"{'0':'terrible','1':'great'}", []string{"0", "1"}, []string{"terrible", "great"}},
		{"{0:'terrible',1:'bad',2:'okay'}", []string{"0", "1", "2"}, []string{"terrible", "bad", "okay"}},
		{`{ "entailment" : "Yes", 'not_entailment':"No", }`, []string{"entailment", "not_entailment"}, []string{"Yes", "No"}},
		{`{'a':'it\'s' ' ok'}`, []string{"a"}, []string{"it's ok"}},
		{`{"0": "terrible", "1": "great"}`, []string{"0", "1"}, []string{"terrible", "great"}},
		{"0: terrible\n1: great\n", []string{"0", "1"}, []string{"terrible", "great"}},
		{`{'x':'\u00e9\x41'}`, []string{"x"}, []string{"éA"}},
	} {
		m, err := ParseMapping(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var vals []string
		for _, k := range m.Keys {
			vals = append(vals, m.Words[k])
		}
		if !slices.Equal(m.Keys, tc.keys) || !slices.Equal(vals, tc.vals) {
			t.Errorf("%q: %v %v", tc.in, m.Keys, vals)
		}
	}
	for _, bad := range []string{"", "{}", "{'0':'a','0':'b'}", "{'0' 'a'}", "[1,2]", "{0:'terrible',1:'great'", "{0:'terrible',1:'great'}"[:5]} {
		if _, err := ParseMapping(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
