package lmbff

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/pkg/nprand"
)

func sst2(t *testing.T) *Task {
	t.Helper()
	task, err := LookupTask("sst-2")
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestLabelWords(t *testing.T) {
	tok := newFakeTok()
	task := sst2(t)
	ids, err := LabelWordIDs(tok, task, "{'0':'terrible','1':'great'}")
	if err != nil || !slices.Equal(ids, []int{11, 10}) {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	// Raw words are looked up as written.
	if ids, err := LabelWordIDs(tok, task, "{'0':'.','1':'<mask>'}"); err != nil || !slices.Equal(ids, []int{4, 99}) {
		t.Fatalf("raw ids %v, err %v", ids, err)
	}
	for _, tc := range []struct{ mapping, want string }{
		{"{'0':'terrible','1':'very great'}", `label word "very great" is 2 tokens`},
		{"{'0':'terrible'}", `gives no word for SST-2 label "1"`},
		{"{'0':'terrible','1':'great','2':'okay'}", `SST-2 has no label "2"`},
		{"{'0':'terrible','1':'<nope>'}", `label word "<nope>" is not in the vocabulary`},
		{"{'0':'terrible','1':''}", "empty label word"},
	} {
		_, err := LabelWordIDs(tok, task, tc.mapping)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.mapping, err, tc.want)
		}
	}
	// Integer keys match the labels' string form.
	if _, err := LabelWordIDs(tok, task, "{0:'terrible',1:'great'}"); err != nil {
		t.Fatal(err)
	}
}

func TestNewEncoderErrors(t *testing.T) {
	tok := newFakeTok()
	task := sst2(t)
	base := task.DefaultConfig(ModePrompt)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no mask", func(c *Config) { c.Template = "*cls**sent_0*_It_was.*sep+*" }, "has no *mask* part"},
		{"label beyond", func(c *Config) { c.Template = "*cls**sent_0**label_2**mask**sep+*" }, "uses *label_2* but SST-2 has 2 label words"},
		{"bad part", func(c *Config) { c.Template = "*cls**sent_a**mask*" }, `bad index "a"`},
		{"no mapping", func(c *Config) { c.Mapping = "" }, "needs a label word mapping"},
		{"no template", func(c *Config) { c.Template = "" }, "needs a template"},
		{"bad length", func(c *Config) { c.MaxLength = 0 }, "must be positive"},
		{"bad mode", func(c *Config) { c.Mode = "zero-shot" }, "unknown mode"},
	} {
		cfg := base
		tc.edit(&cfg)
		_, err := NewEncoder(tok, task, cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	tok := newFakeTok()
	task := sst2(t)
	cfg := task.DefaultConfig(ModePrompt)
	enc, err := NewEncoder(tok, task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := enc.Render([]string{"great fun."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// <s> great fun . It was <mask> . </s>
	want := []int{0, tok.id("great"), tok.id("Ġfun"), 4, 12, 13, 99, 4, 2}
	if !slices.Equal(f.InputIDs, want) || f.MaskPos != 6 {
		t.Fatalf("got %v mask %d, want %v mask 6", f.InputIDs, f.MaskPos, want)
	}

	// A one-character literal "_" is a space, looked up directly: <unk>.
	cfg.Template = "*cls**sent_0*_*mask*.*sep+*"
	enc, _ = NewEncoder(tok, task, cfg)
	f, _ = enc.Render([]string{"fun"}, nil)
	if !slices.Equal(f.InputIDs, []int{0, tok.id("fun"), 3, 99, 4, 2}) {
		t.Fatalf("single char literal: %v", f.InputIDs)
	}

	// Sentence forms and limits.
	cfg.Template = "*cls**sent-_0**+sentl_1**sentu_2**mask*"
	cfg.FirstSentLimit, cfg.OtherSentLimit = 2, 1
	enc, _ = NewEncoder(tok, task, cfg)
	f, _ = enc.Render([]string{"a b c d", "Paris is", "ßx y"}, nil)
	want = []int{0, tok.id("a"), tok.id("Ġb"), tok.id("Ġparis"), tok.id("SSx"), 99}
	if !slices.Equal(f.InputIDs, want) {
		t.Fatalf("sentence forms: %v, want %v", f.InputIDs, want)
	}
	if _, err := enc.Render([]string{"one"}, nil); err == nil || !strings.Contains(err.Error(), "the input has 1 sentences") {
		t.Fatalf("missing sentence: %v", err)
	}
}

func TestMaskTruncated(t *testing.T) {
	tok := newFakeTok()
	task := sst2(t)
	cfg := task.DefaultConfig(ModePrompt)
	cfg.MaxLength = 6
	enc, _ := NewEncoder(tok, task, cfg)
	// <s> a b c . It was <mask>: the mask is at 7, cut at 6.
	_, err := enc.Render([]string{"a b c."}, nil)
	var mt *MaskTruncatedError
	if !errors.As(err, &mt) || mt.MaskIndex != 7 || mt.UntruncatedLength != 10 {
		t.Fatalf("error %v (%+v)", err, mt)
	}
	// Exactly fitting up to the mask: no error, the row ends without </s>.
	cfg.MaxLength = 8
	enc, _ = NewEncoder(tok, task, cfg)
	f, err := enc.Render([]string{"a b c."}, nil)
	if err != nil || f.MaskPos != 7 || len(f.InputIDs) != 8 {
		t.Fatalf("%v %+v", err, f)
	}
	// Head truncation keeps the tail in prompt-demo mode only.
	cfg = task.DefaultConfig(ModePromptDemo)
	cfg.MaxLength, cfg.TruncateHead = 16, true
	enc, _ = NewEncoder(tok, task, cfg)
	f, err = enc.Render([]string{"a b c.", "d", "e"}, nil)
	if err != nil || f.InputIDs[len(f.InputIDs)-1] != 2 || len(f.InputIDs) != 16 || f.MaskPos != 1 {
		t.Fatalf("head truncation: %v %v", err, f.InputIDs)
	}
}

func TestFinetune(t *testing.T) {
	tok := newFakeTok()
	rte, _ := LookupTask("RTE")
	enc, err := NewEncoder(tok, rte, rte.DefaultConfig(ModeFinetune))
	if err != nil {
		t.Fatal(err)
	}
	f, err := enc.EncodeExample(Example{TextA: "a.", TextB: "b", HasB: true, LabelID: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.InputIDs, []int{0, tok.id("a"), 4, 2, tok.id("b"), 2}) || f.MaskPos != -1 || f.LabelID != 1 {
		t.Fatalf("%+v", f)
	}
}

func TestDatasetDemos(t *testing.T) {
	tok := newFakeTok()
	task := sst2(t)
	var train, dev []Example
	for i := range 6 {
		train = append(train, Example{TextA: "t" + string(rune('a'+i)), Label: []string{"0", "1"}[i%2], LabelID: i % 2})
	}
	for i := range 3 {
		dev = append(dev, Example{TextA: "d" + string(rune('a'+i)), Label: "1", LabelID: 1})
	}
	cfg := task.DefaultConfig(ModePromptDemo)
	cfg.NumSample = 2
	enc, err := NewEncoder(tok, task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := NewDataset(enc, SplitDev, train, dev, nprand.New(7))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 6 {
		t.Fatalf("len %d", ds.Len())
	}
	// Replay: sample-major, one permutation(6) per feature.
	rng := nprand.New(7)
	for i := range ds.Len() {
		f, _ := ds.Get(i, nil)
		order := rng.Permutation(6)
		var sel []int
		seen := map[int]bool{}
		for _, o := range order {
			if !seen[train[o].LabelID] {
				seen[train[o].LabelID] = true
				sel = append(sel, o)
			}
			if len(sel) == 2 {
				break
			}
		}
		byLabel := slices.Clone(sel)
		slices.SortFunc(byLabel, func(a, b int) int { return train[a].LabelID - train[b].LabelID })
		if !slices.Equal(f.DemoSelection, sel) || !slices.Equal(f.Demos, byLabel) || f.QueryIndex != i%3 || f.SampleIndex != i/3 {
			t.Fatalf("feature %d: %+v, want selection %v", i, f, sel)
		}
		if train[f.Demos[0]].LabelID != 0 || train[f.Demos[1]].LabelID != 1 {
			t.Fatalf("demos not in label order")
		}
	}
	// Training features exclude the query itself.
	tr, _ := NewDataset(enc, SplitTrain, train, train, nil)
	rng = nprand.New(1)
	for range 50 {
		f, err := tr.Get(2, rng)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(f.Demos, 2) {
			t.Fatalf("query drew itself: %v", f.Demos)
		}
	}
	if _, err := tr.Get(0, nil); err == nil {
		t.Fatal("training Get without a Permuter")
	}
	if _, err := tr.Get(99, rng); err == nil {
		t.Fatal("out of range Get")
	}
}

func TestCollate(t *testing.T) {
	fs := []Feature{
		{InputIDs: []int{0, 5, 99, 2}, AttentionMask: []int{1, 1, 1, 1}, MaskPos: 2, LabelID: 1},
		{InputIDs: []int{0, 99, 2}, AttentionMask: []int{1, 1, 1}, MaskPos: 1, LabelID: 0},
	}
	b, err := Collate(fs, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size != 2 || b.Len != 4 ||
		!slices.Equal(b.InputIDs, []int64{0, 5, 99, 2, 0, 99, 2, 1}) ||
		!slices.Equal(b.AttentionMask, []int64{1, 1, 1, 1, 1, 1, 1, 0}) ||
		!slices.Equal(b.MaskPos, []int64{2, 1}) || !slices.Equal(b.Labels, []int64{1, 0}) || b.Targets != nil {
		t.Fatalf("%+v", b)
	}
	if !slices.Equal(b.Row(1), []int64{0, 99, 2, 1}) {
		t.Fatalf("row %v", b.Row(1))
	}
	fs[1].MaskPos = -1
	if _, err := Collate(fs, 1); err == nil {
		t.Fatal("mixed mask rows accepted")
	}
	if _, err := Collate(nil, 1); err == nil {
		t.Fatal("empty batch accepted")
	}
}

func TestSampler(t *testing.T) {
	s := &Sampler{N: 10, BatchSize: 4, Perm: nprand.New(3)}
	e1, err := s.Epoch()
	if err != nil {
		t.Fatal(err)
	}
	if len(e1) != 3 || len(e1[2]) != 2 {
		t.Fatalf("batches %v", e1)
	}
	again, _ := (&Sampler{N: 10, BatchSize: 4, Perm: nprand.New(3)}).Epoch()
	if !slices.EqualFunc(e1, again, slices.Equal) {
		t.Fatalf("not deterministic: %v vs %v", e1, again)
	}
	var all []int
	for _, b := range e1 {
		all = append(all, b...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("not a permutation: %v", all)
	}
	seq, _ := (&Sampler{N: 5, BatchSize: 2, DropLast: true}).Epoch()
	if !slices.EqualFunc(seq, [][]int{{0, 1}, {2, 3}}, slices.Equal) {
		t.Fatalf("sequential %v", seq)
	}
}
