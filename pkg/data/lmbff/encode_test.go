package lmbff

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/pkg/data/tabular"
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

func TestMeanOverSamples(t *testing.T) {
	// 2 samples x 2 queries x 2 logits.
	got, err := MeanOverSamples([]float32{1, 2, 3, 4, 3, 4, 5, 6}, 2, 2)
	if err != nil || !slices.Equal(got, []float32{2, 3, 4, 5}) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := MeanOverSamples(make([]float32, 6), 4, 2); err == nil {
		t.Fatal("uneven logits accepted")
	}
}

// TestTableTasks reads small files in the layouts of the tasks that have no
// shared data (CoLA, MRPC, QNLI, QQP, STS-B).
func TestTableTasks(t *testing.T) {
	for _, tc := range []struct {
		task, file string
		want       []Example
	}{
		{"CoLA", "gj04\t1\t\tOur friends won't buy this analysis.\n",
			[]Example{{GUID: "train-0", TextA: "Our friends won't buy this analysis.", Label: "1", LabelID: 1}}},
		{"MRPC", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tA b.\tC d.\n",
			[]Example{{GUID: "train-1", TextA: "A b.", TextB: "C d.", HasB: true, Label: "0", LabelID: 0}}},
		{"QNLI", "index\tquestion\tsentence\tlabel\n7\tWhy?\tBecause.\tnot_entailment\n",
			[]Example{{GUID: "train-7", TextA: "Why?", TextB: "Because.", HasB: true, Label: "not_entailment", LabelID: 1}}},
		{"QQP", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n5\t1\t2\tQ1?\tQ2?\t1\n6\t3\t4\tshort\n",
			[]Example{{GUID: "train-5", TextA: "Q1?", TextB: "Q2?", HasB: true, Label: "1", LabelID: 1}}},
		{"STS-B", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n" +
			"3\tmain\tx\t2012\t1\ta\tb\tA man.\tA guy.\t3.800\n",
			[]Example{{GUID: "train-3", TextA: "A man.", TextB: "A guy.", HasB: true, Label: "3.800", LabelID: -1, Target: 3.8}}},
	} {
		task, err := LookupTask(tc.task)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := tabular.ParseTSV("f", []byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := task.Examples("f", SplitTrain, recs)
		if err != nil {
			t.Fatalf("%s: %v", tc.task, err)
		}
		for i := range got {
			got[i].File, got[i].Line = "", 0
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.task, got, tc.want)
		}
	}
	// STS-B prompt-demo: one demonstration block (num_labels 1), demos
	// grouped by the median.
	stsb, _ := LookupTask("sts-b")
	tok := newFakeTok()
	enc, err := NewEncoder(tok, stsb, stsb.DefaultConfig(ModePromptDemo))
	if err != nil {
		t.Fatal(err)
	}
	if enc.Template.Source != "*cls**sent_0**mask*,*+sentl_1**sep+**sent_2**label_0*,*+sentl_3**sep+*" {
		t.Fatalf("STS-B demo template %s", enc.Template.Source)
	}
	if g := stsb.demoGroup(Example{Target: 2.5}); g != "0" {
		t.Fatalf("median group %s", g)
	}
}
