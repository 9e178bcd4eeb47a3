package lmbff

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/gomezo/gomezo/pkg/nprand"
	"github.com/gomezo/gomezo/pkg/tokenizer"
)

var (
	robertaOnce sync.Once
	robertaTok  *tokenizer.Tokenizer
	robertaErr  error
)

// roberta loads the real RoBERTa tokenizer from the shared data.
func roberta(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	dir := testenv.SharedPath(t, "data", "models", "roberta-base")
	robertaOnce.Do(func() { robertaTok, robertaErr = tokenizer.Load(dir) })
	if robertaErr != nil {
		t.Fatalf("load tokenizer: %v", robertaErr)
	}
	return robertaTok
}

// fixtureTask is one task entry of a template fixture's tasks.json.
type fixtureTask struct {
	Template       string            `json:"template"`
	Mapping        string            `json:"mapping"`
	MaxSeqLength   int               `json:"max_seq_length"`
	FirstSentLimit *int              `json:"first_sent_limit"`
	OtherSentLimit *int              `json:"other_sent_limit"`
	DoubleDemo     bool              `json:"double_demo"`
	NumSample      int               `json:"num_sample"`
	TruncateHead   bool              `json:"truncate_head"`
	LabelList      []json.RawMessage `json:"label_list"`
	LabelWordList  []int             `json:"label_word_list"`
	Files          map[string]string `json:"files"`
}

type fixtureTasks struct {
	Tasks    map[string]fixtureTask `json:"tasks"`
	Finetune map[string]struct {
		MaxSeqLength int `json:"max_seq_length"`
	} `json:"finetune"`
	raw map[string]json.RawMessage
}

// promptDemo returns the "prompt_demo_<task>" entry, if any.
func (f *fixtureTasks) promptDemo(task string) (template string, maxLen int, doubleDemo bool, ok bool) {
	raw, ok := f.raw["prompt_demo_"+task]
	if !ok {
		return "", 0, false, false
	}
	var v struct {
		Template   string `json:"template_after_auto_demo"`
		MaxSeqLen  int    `json:"max_seq_length"`
		DoubleDemo bool   `json:"double_demo"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", 0, false, false
	}
	return v.Template, v.MaxSeqLen, v.DoubleDemo, true
}

func loadFixtureTasks(t *testing.T, dir string) *fixtureTasks {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tasks.json"))
	if err != nil {
		t.Fatalf("%v", err)
	}
	var ft fixtureTasks
	if err := json.Unmarshal(data, &ft); err != nil {
		t.Fatalf("%s/tasks.json: %v", dir, err)
	}
	if err := json.Unmarshal(data, &ft.raw); err != nil {
		t.Fatalf("%s/tasks.json: %v", dir, err)
	}
	return &ft
}

// fixtureRow is one rendered example of a template fixture.
type fixtureRow struct {
	Task          string            `json:"task"`
	Split         string            `json:"split"`
	Mode          string            `json:"mode"`
	Index         *int              `json:"index"`
	QueryIndex    *int              `json:"query_index"`
	SampleIdx     *int              `json:"sample_idx"`
	TextA         string            `json:"text_a"`
	TextB         *string           `json:"text_b"`
	Label         json.RawMessage   `json:"label"`
	LabelID       *int              `json:"label_id"`
	InputIDs      []int             `json:"input_ids"`
	AttentionMask []int             `json:"attention_mask"`
	MaskPos       *int              `json:"mask_pos"`
	DemoSel       []int             `json:"demo_support_indices_in_selection_order"`
	DemoByLabel   []int             `json:"demo_support_indices_by_label"`
	DemoTexts     []json.RawMessage `json:"demo_texts_by_label"`
	DemoLabels    []json.RawMessage `json:"demo_labels_by_label"`
	Untruncated   *int              `json:"untruncated_length"`

	// synthetic.jsonl
	Case           string          `json:"case"`
	Template       *string         `json:"template"`
	MaxLength      int             `json:"max_length"`
	FirstSentLimit *int            `json:"first_sent_limit"`
	OtherSentLimit *int            `json:"other_sent_limit"`
	LabelWordList  []int           `json:"label_word_list"`
	InputTextList  []string        `json:"input_text_list"`
	Error          json.RawMessage `json:"error"`
	UntruncatedIDs []int           `json:"untruncated_input_ids"`
}

func readRows(t *testing.T, path string) []fixtureRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer f.Close()
	var rows []fixtureRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for ln := 1; sc.Scan(); ln++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r fixtureRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s:%d: %v", path, ln, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// rawLabel turns a JSON label ("0", 3, "entailment") into its string form.
func rawLabel(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("label %s: %v", raw, err)
	}
	return canonicalInt(n.String()), nil
}

func intOr0(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// templateDirs are the shared template fixture plus MEZO_TEMPLATE_DIRS.
func templateDirs(t *testing.T) []string {
	dirs := []string{testenv.SharedPath(t, "fixtures", "templates")}
	return append(dirs, testenv.ListEnv("MEZO_TEMPLATE_DIRS")...)
}

// fixtureEncoder builds an encoder from a fixture's settings for task.
func fixtureEncoder(t *testing.T, ft *fixtureTasks, taskName string, mode Mode) (*Encoder, error) {
	task, err := LookupTask(taskName)
	if err != nil {
		return nil, err
	}
	ftask, ok := ft.Tasks[taskName]
	if !ok {
		return nil, fmt.Errorf("tasks.json has no task %q", taskName)
	}
	cfg := Config{Mode: mode, Template: ftask.Template, Mapping: ftask.Mapping, MaxLength: ftask.MaxSeqLength,
		FirstSentLimit: intOr0(ftask.FirstSentLimit), OtherSentLimit: intOr0(ftask.OtherSentLimit),
		TruncateHead: ftask.TruncateHead, DoubleDemo: ftask.DoubleDemo, NumSample: max(ftask.NumSample, 1)}
	switch mode {
	case ModeFinetune:
		if fin, ok := ft.Finetune[taskName]; ok {
			cfg.MaxLength = fin.MaxSeqLength
		}
	case ModePromptDemo:
		if tmpl, maxLen, dd, ok := ft.promptDemo(taskName); ok {
			if got := AutoDemoTemplate(ftask.Template, task.refNumLabels()); got != tmpl {
				return nil, fmt.Errorf("AutoDemoTemplate(%q) = %q, the fixture has %q", ftask.Template, got, tmpl)
			}
			cfg.MaxLength, cfg.DoubleDemo = maxLen, dd
		}
	}
	enc, err := NewEncoder(roberta(t), task, cfg)
	if err != nil {
		return nil, err
	}
	if mode.Prompt() && ftask.LabelWordList != nil && !slices.Equal(enc.LabelWords, ftask.LabelWordList) {
		return nil, fmt.Errorf("label words %v, the fixture has %v", enc.LabelWords, ftask.LabelWordList)
	}
	return enc, nil
}

// demoExamples rebuilds a prompt-demo row's demonstrations from its texts
// and labels.
func demoExamples(task *Task, r fixtureRow) ([]Example, error) {
	if len(r.DemoTexts) != len(r.DemoLabels) {
		return nil, fmt.Errorf("%d demo texts but %d labels", len(r.DemoTexts), len(r.DemoLabels))
	}
	var out []Example
	for i, raw := range r.DemoTexts {
		var ex Example
		var s string
		var pair []string
		if err := json.Unmarshal(raw, &s); err == nil {
			ex.TextA = s
		} else if err := json.Unmarshal(raw, &pair); err == nil && len(pair) == 2 {
			ex.TextA, ex.TextB, ex.HasB = pair[0], pair[1], true
		} else {
			return nil, fmt.Errorf("demo text %s: want a string or a pair", raw)
		}
		l, err := rawLabel(r.DemoLabels[i])
		if err != nil {
			return nil, err
		}
		id, ok := task.LabelIndex(l)
		if !ok {
			return nil, fmt.Errorf("demo label %q unknown", l)
		}
		ex.Label, ex.LabelID = l, id
		out = append(out, ex)
	}
	return out, nil
}

// compareRow renders one prompt, finetune or prompt-demo row and compares.
func compareRow(t *testing.T, ft *fixtureTasks, encs map[string]*Encoder, r fixtureRow) error {
	mode, err := ParseMode(r.Mode)
	if err != nil {
		return err
	}
	key := r.Task + "/" + r.Mode
	enc, ok := encs[key]
	if !ok {
		if enc, err = fixtureEncoder(t, ft, r.Task, mode); err != nil {
			return err
		}
		encs[key] = enc
	}
	ex := Example{TextA: r.TextA, LabelID: -1}
	if r.TextB != nil {
		ex.TextB, ex.HasB = *r.TextB, true
	}
	l, err := rawLabel(r.Label)
	if err != nil {
		return err
	}
	id, ok := enc.Task.LabelIndex(l)
	if !ok {
		return fmt.Errorf("label %q is not a %s label", l, enc.Task.Name)
	}
	if r.LabelID != nil && *r.LabelID != id {
		return fmt.Errorf("label %q has index %d here, %d in the fixture", l, id, *r.LabelID)
	}
	ex.Label, ex.LabelID = l, id
	var demos []Example
	if mode == ModePromptDemo {
		if demos, err = demoExamples(enc.Task, r); err != nil {
			return err
		}
	}
	f, err := enc.EncodeExample(ex, demos)
	if err != nil {
		return err
	}
	return compareFeature(f, r.InputIDs, r.AttentionMask, r.MaskPos, r.Untruncated)
}

func compareFeature(f Feature, ids, mask []int, maskPos, untruncated *int) error {
	if !slices.Equal(f.InputIDs, ids) {
		return fmt.Errorf("input_ids differ at %d:\n got %v\nwant %v", firstDiff(f.InputIDs, ids), f.InputIDs, ids)
	}
	if !slices.Equal(f.AttentionMask, mask) {
		return fmt.Errorf("attention_mask differs")
	}
	want := -1
	if maskPos != nil {
		want = *maskPos
	}
	if f.MaskPos != want {
		return fmt.Errorf("mask_pos %d, want %d", f.MaskPos, want)
	}
	if untruncated != nil && f.UntruncatedLength != *untruncated {
		return fmt.Errorf("untruncated length %d, want %d", f.UntruncatedLength, *untruncated)
	}
	return nil
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// compareSynthetic renders a synthetic.jsonl case.
func compareSynthetic(t *testing.T, ft *fixtureTasks, r fixtureRow) error {
	mode, err := ParseMode(r.Mode)
	if err != nil {
		return err
	}
	task, err := LookupTask(r.Task)
	if err != nil {
		return err
	}
	cfg := Config{Mode: mode, MaxLength: r.MaxLength, FirstSentLimit: intOr0(r.FirstSentLimit),
		OtherSentLimit: intOr0(r.OtherSentLimit), NumSample: 1}
	if mode.Prompt() {
		if r.Template == nil {
			return errors.New("prompt case without a template")
		}
		cfg.Template = *r.Template
		ftask, ok := ft.Tasks[r.Task]
		if !ok {
			return fmt.Errorf("tasks.json has no task %q (for its mapping)", r.Task)
		}
		cfg.Mapping = ftask.Mapping
	}
	enc, err := NewEncoder(roberta(t), task, cfg)
	if err != nil {
		return err
	}
	if mode.Prompt() && !slices.Equal(enc.LabelWords, r.LabelWordList) {
		return fmt.Errorf("label words %v, want %v", enc.LabelWords, r.LabelWordList)
	}
	// The untruncated rendering.
	long := cfg
	long.MaxLength = 1 << 30
	lenc, err := NewEncoder(roberta(t), task, long)
	if err != nil {
		return err
	}
	lf, err := lenc.Render(r.InputTextList, nil)
	if err != nil {
		return fmt.Errorf("untruncated: %v", err)
	}
	if r.UntruncatedIDs != nil && !slices.Equal(lf.InputIDs, r.UntruncatedIDs) {
		return fmt.Errorf("untruncated ids differ at %d", firstDiff(lf.InputIDs, r.UntruncatedIDs))
	}
	f, err := enc.Render(r.InputTextList, nil)
	wantErr := len(r.Error) > 0 && string(r.Error) != "null"
	if wantErr {
		var mt *MaskTruncatedError
		if !errors.As(err, &mt) {
			return fmt.Errorf("want a MaskTruncatedError, got %v", err)
		}
		t.Logf("%s: %v", r.Case, err)
		return nil
	}
	if err != nil {
		return err
	}
	return compareFeature(f, r.InputIDs, r.AttentionMask, r.MaskPos, r.Untruncated)
}

// TestTemplateFixtures renders every row of the template fixtures (the
// shared one and each directory of MEZO_TEMPLATE_DIRS) from its text, the
// fixture's settings and the tokenizer, and compares token for token.
func TestTemplateFixtures(t *testing.T) {
	for _, dir := range templateDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				t.Fatalf("template fixture directory %s is missing", dir)
			}
			ft := loadFixtureTasks(t, dir)
			encs := map[string]*Encoder{}
			total := 0
			var files []string
			for _, sub := range []string{"prompt", "finetune", "prompt-demo"} {
				m, _ := filepath.Glob(filepath.Join(dir, sub, "*.jsonl"))
				sort.Strings(m)
				files = append(files, m...)
			}
			for _, path := range files {
				rows := readRows(t, path)
				matched := 0
				for i, r := range rows {
					if err := compareRow(t, ft, encs, r); err != nil {
						t.Errorf("%s row %d (%s %s): %v", path, i, r.Task, r.Mode, err)
						continue
					}
					matched++
				}
				t.Logf("%s: %d/%d rows match", path, matched, len(rows))
				total += len(rows)
			}
			if syn := filepath.Join(dir, "synthetic.jsonl"); fileExists(syn) {
				rows := readRows(t, syn)
				matched := 0
				for _, r := range rows {
					if err := compareSynthetic(t, ft, r); err != nil {
						t.Errorf("%s case %s: %v", syn, r.Case, err)
						continue
					}
					matched++
				}
				t.Logf("%s: %d/%d cases match", syn, matched, len(rows))
				total += len(rows)
			}
			if total == 0 {
				t.Fatalf("template fixture directory %s has no rows", dir)
			}
			t.Logf("%s: %d rows compared", dir, total)
		})
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// TestDemoSampling replays the reference's demonstration draws: the
// prompt-demo rows record which training examples select_context chose,
// with numpy seeded 42 before the first fetch (train rows, fetched in
// order) or before the dev dataset was built (dev rows, sample-major).
func TestDemoSampling(t *testing.T) {
	dataRoot := testenv.SharedPath(t, "data")
	for _, dir := range templateDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ft := loadFixtureTasks(t, dir)
			files, _ := filepath.Glob(filepath.Join(dir, "prompt-demo", "*.jsonl"))
			sort.Strings(files)
			for _, path := range files {
				rows := readRows(t, path)
				if len(rows) == 0 {
					continue
				}
				taskName := rows[0].Task
				enc, err := fixtureEncoder(t, ft, taskName, ModePromptDemo)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				files := ft.Tasks[taskName].Files
				train, err := enc.Task.Examples(filepath.Join(dataRoot, files["train"]), SplitTrain, mustRead(t, enc.Task, filepath.Join(dataRoot, files["train"])))
				if err != nil {
					t.Fatal(err)
				}
				datasets := map[string]*Dataset{}
				trainRNG := nprand.New(42)
				matched := 0
				for i, r := range rows {
					if r.QueryIndex == nil || r.DemoSel == nil {
						t.Fatalf("%s row %d: no query_index or demo indices", path, i)
					}
					var f Feature
					switch r.Split {
					case "train":
						ds, ok := datasets["train"]
						if !ok {
							ds, err = NewDataset(enc, SplitTrain, train, train, nil)
							if err != nil {
								t.Fatal(err)
							}
							datasets["train"] = ds
						}
						f, err = ds.Get(*r.QueryIndex, trainRNG)
					default:
						ds, ok := datasets[r.Split]
						if !ok {
							fn := files[r.Split]
							if fn == "" {
								t.Fatalf("%s: tasks.json has no %s file", path, r.Split)
							}
							p := filepath.Join(dataRoot, fn)
							split, err := ParseSplit(r.Split)
							if err != nil {
								t.Fatal(err)
							}
							query, err := enc.Task.Examples(p, split, mustRead(t, enc.Task, p))
							if err != nil {
								t.Fatal(err)
							}
							if ds, err = NewDataset(enc, split, train, query, nprand.New(42)); err != nil {
								t.Fatal(err)
							}
							datasets[r.Split] = ds
						}
						f, err = ds.Get(intOr0(r.SampleIdx)*len(ds.Query)+*r.QueryIndex, nil)
					}
					if err != nil {
						t.Errorf("%s row %d: %v", path, i, err)
						continue
					}
					if !slices.Equal(f.DemoSelection, r.DemoSel) || !slices.Equal(f.Demos, r.DemoByLabel) {
						t.Errorf("%s row %d: demos %v (drawn %v), want %v (drawn %v)", path, i, f.Demos, f.DemoSelection, r.DemoByLabel, r.DemoSel)
						continue
					}
					if err := compareFeature(f, r.InputIDs, r.AttentionMask, r.MaskPos, r.Untruncated); err != nil {
						t.Errorf("%s row %d: rendering from the data files: %v", path, i, err)
						continue
					}
					matched++
				}
				t.Logf("%s: %d/%d demonstration draws match", path, matched, len(rows))
			}
		})
	}
}

func mustRead(t *testing.T, task *Task, path string) []Record {
	t.Helper()
	recs, err := task.Records(path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestSeedStream checks the design that lets the training loop replay the
// reference's real seed stream: one RandomState seeded 42, a training
// Dataset.Get per example of the step's batch (each drawing its context),
// then Randint(1000000000) for the step's seed.
func TestSeedStream(t *testing.T) {
	path := testenv.SharedPath(t, "fixtures", "mezo-reference", "seed-stream", "real_run_seeds.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Tasks map[string]struct {
			NTrain int     `json:"n_train"`
			Batch  []int   `json:"batch_size_per_step"`
			Seeds  []int64 `json:"seeds"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Tasks) == 0 {
		t.Fatal("no tasks in the seed-stream fixture")
	}
	tok := roberta(t)
	for name, want := range fx.Tasks {
		task, err := LookupTask(name)
		if err != nil {
			t.Fatal(err)
		}
		train, err := task.Load(testenv.SharedPath(t, "data", "k-shot", task.Name, "16-42"), SplitTrain)
		if err != nil {
			t.Fatal(err)
		}
		if len(train) != want.NTrain {
			t.Fatalf("%s: %d training examples, the fixture has %d", name, len(train), want.NTrain)
		}
		enc, err := NewEncoder(tok, task, task.DefaultConfig(ModePrompt))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := NewDataset(enc, SplitTrain, train, train, nil)
		if err != nil {
			t.Fatal(err)
		}
		rng := nprand.New(42)
		next := 0
		for step, bs := range want.Batch {
			for range bs {
				if _, err := ds.Get(next%ds.Len(), rng); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				next++
			}
			if got := rng.Randint(1000000000); got != want.Seeds[step] {
				t.Fatalf("%s step %d: seed %d, want %d", name, step+1, got, want.Seeds[step])
			}
		}
		t.Logf("%s: %d step seeds match", name, len(want.Batch))
	}
}

// TestDefaultsMatchFixture checks the task table's run_fewshot.sh defaults
// against the settings the reference parsed for the shared fixture.
func TestDefaultsMatchFixture(t *testing.T) {
	ft := loadFixtureTasks(t, testenv.SharedPath(t, "fixtures", "templates"))
	for name, want := range ft.Tasks {
		task, err := LookupTask(name)
		if err != nil {
			t.Fatal(err)
		}
		d := task.Defaults
		got := []string{d.Template, d.Mapping, strconv.Itoa(d.MaxLength), strconv.Itoa(d.FirstSentLimit),
			strconv.Itoa(d.OtherSentLimit), strconv.FormatBool(d.DoubleDemo), strconv.Itoa(d.NumSample)}
		exp := []string{want.Template, want.Mapping, strconv.Itoa(want.MaxSeqLength), strconv.Itoa(intOr0(want.FirstSentLimit)),
			strconv.Itoa(intOr0(want.OtherSentLimit)), strconv.FormatBool(want.DoubleDemo), strconv.Itoa(want.NumSample)}
		if !slices.Equal(got, exp) {
			t.Errorf("%s defaults %q, the reference parsed %q", name, got, exp)
		}
		var labels []string
		for _, raw := range want.LabelList {
			l, err := rawLabel(raw)
			if err != nil {
				t.Fatal(err)
			}
			labels = append(labels, l)
		}
		if !slices.Equal(task.Labels, labels) {
			t.Errorf("%s labels %q, the reference's %q", name, task.Labels, labels)
		}
		ids, err := LabelWordIDs(roberta(t), task, task.Defaults.Mapping)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, want.LabelWordList) {
			t.Errorf("%s label words %v, want %v", name, ids, want.LabelWordList)
		}
	}
}
