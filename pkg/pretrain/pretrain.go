// Package pretrain builds the quickstart's model: a tiny RoBERTa made from a
// preset and pre-trained briefly, with masked-language-model backprop, on
// the generated review text of pkg/data/synth, so that `mezo run
// recipes/quickstart.yaml` needs nothing but the repository (no model
// download, no network).
//
// What it is, honestly: a demonstration, not a language model. It has seen
// a few thousand sentences of one small grammar; it knows that grammar's
// words, which adjectives go together, that "It was" may be followed by
// great or terrible, and that it may be followed by good or bad as the
// review says — but not which review earns great and which terrible
// (synth.Corpus draws those independently of the review), so prompted
// zero-shot over terrible/great it scores about chance, and MeZO then has
// something real to learn with a prompt. Its tokenizer is RoBERTa's own BPE (third_party/robertabpe).
//
// The result is a Hugging Face model directory (config.json,
// model.safetensors, vocab.json, merges.txt, pretrain.json) cached under a
// name derived from everything that decides its weights, so a second run
// with the same settings loads it instead of training again. The weights
// are reproducible on one machine and thread count; across BLAS builds or
// thread counts the matrix products may round differently, which the cache
// hides. Not safe for concurrent use by two processes on one cache entry
// beyond this: a finished entry is renamed into place atomically, and a
// process that loses the race uses the winner's.
package pretrain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/atomicfile"
	"github.com/gomezo/gomezo/pkg/data/synth"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/optim"
	"github.com/gomezo/gomezo/pkg/tokenizer"
	"github.com/gomezo/gomezo/third_party/robertabpe"
)

// Version changes whenever the pre-training procedure changes what it
// produces; it is part of the cache key.
const Version = 1

// The files of a pre-trained model directory besides the tokenizer's.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
	InfoFile    = "pretrain.json" // written last: its presence marks a complete entry
)

// Presets are the model shapes pre-training can build: RoBERTa's
// vocabulary and tokenizer, everything else small.
var Presets = map[string]hf.Config{
	// tiny: 2 layers, hidden 64, 3.4M parameters (3.2M of them the
	// embedding of RoBERTa's 50265 tokens).
	"tiny": {ModelType: "roberta", Architectures: []string{"RobertaForMaskedLM"}, VocabSize: 50265, HiddenSize: 64,
		NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 256, MaxPositionEmbeddings: 130, TypeVocabSize: 1,
		PadTokenID: 1, BOSTokenID: 0, EOSTokenID: 2, LayerNormEps: 1e-5, HiddenAct: "gelu", PositionEmbeddingType: "absolute",
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, InitializerRange: 0.02, TieWordEmbeddings: true},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var n []string
	for k := range Presets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Config is one pre-training: the preset, the budget and the stream (a
// recipe's model.pretrain section, whose defaults recipe.DefaultPretrain
// gives).
type Config struct {
	Preset    string  `json:"preset"`
	Steps     int     `json:"steps"`
	Seed      uint64  `json:"seed"`
	LR        float64 `json:"lr"`
	BatchSize int     `json:"batch_size"`
	// CacheDir holds the pre-trained models; DefaultCacheDir() when "".
	// Not part of the key.
	CacheDir string `json:"-"`
}

// The corpus (synth.Corpus): how many lines, how often the review's cue
// word ends one, and how often great ends the others. pGreat ≠ ½ makes the
// zero-shot prompt answer great for every review.
const (
	corpusLines = 20000
	corpusCue   = 0.5
	corpusGreat = 0.6
	warmupFrac  = 0.06
	weightDecay = 0.01
	maxGradNorm = 1.0
)

// Validate reports c's problems, naming the fields as a recipe's
// model.pretrain section spells them.
func (c Config) Validate() error {
	var errs []error
	if _, ok := Presets[c.Preset]; !ok {
		errs = append(errs, fmt.Errorf("model.pretrain.preset: unknown preset %q (known: %s)", c.Preset, strings.Join(PresetNames(), ", ")))
	}
	if c.Steps < 1 {
		errs = append(errs, fmt.Errorf("model.pretrain.steps: want ≥ 1, got %d", c.Steps))
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		errs = append(errs, fmt.Errorf("model.pretrain.lr: want a positive learning rate, got %v", c.LR))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("model.pretrain.batch_size: want ≥ 1, got %d", c.BatchSize))
	}
	return errors.Join(errs...)
}

// DefaultCacheDir is $XDG_CACHE_HOME/gomezo/pretrain (~/.cache/... on
// Linux), or the temporary directory's gomezo-cache/pretrain when there is
// no user cache directory.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gomezo", "pretrain")
	}
	return filepath.Join(os.TempDir(), "gomezo-cache", "pretrain")
}

// Info is pretrain.json: what was trained and how it went.
type Info struct {
	Version   int       `json:"version"`
	Config    Config    `json:"config"`
	Model     hf.Config `json:"model"`
	Lines     int       `json:"corpus_lines"`
	PCue      float64   `json:"corpus_p_cue"`
	PGreat    float64   `json:"corpus_p_great"`
	Threads   int       `json:"threads"`
	FirstLoss float64   `json:"first_loss"`
	LastLoss  float64   `json:"last_loss"` // mean of the last tenth of the steps
	// CueAccuracy is how often, on held-out lines that end in a cue word,
	// the model ranks the review's cue word above the other (good vs bad)
	// at the <mask>: whether it carries the polarity there.
	CueAccuracy float64 `json:"held_out_cue_accuracy"`
	Seconds     float64 `json:"seconds"`
	Note        string  `json:"note"`
}

// key is the cache entry's name: the preset and a hash of everything that
// decides the weights.
func key(c Config) string {
	js, _ := json.Marshal(struct {
		V      int
		C      Config
		M      hf.Config
		N      int
		P      [2]float64
		Sched  [3]float64
		Corpus string
	}{Version, c, Presets[c.Preset], corpusLines, [2]float64{corpusCue, corpusGreat},
		[3]float64{warmupFrac, weightDecay, maxGradNorm}, "synth.Corpus"})
	h := sha256.Sum256(js)
	return c.Preset + "-" + hex.EncodeToString(h[:8])
}

// Ensure returns the directory of the model c pre-trains, training it first
// (progress lines to log, which may be nil) unless the cache holds it.
func Ensure(c Config, log io.Writer) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	root := c.CacheDir
	if root == "" {
		root = DefaultCacheDir()
	}
	dir := filepath.Join(root, key(c))
	if _, err := os.Stat(filepath.Join(dir, InfoFile)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("model.pretrain.cache_dir: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-"+key(c)+"-")
	if err != nil {
		return "", fmt.Errorf("model.pretrain.cache_dir: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := Train(c, tmp, log); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, InfoFile)); serr == nil {
			return dir, nil // another process finished first
		}
		return "", fmt.Errorf("model.pretrain.cache_dir: %w", err)
	}
	return dir, nil
}

// Train pre-trains c's model into dir (which must exist): the tokenizer
// files, config.json, model.safetensors and, last, pretrain.json.
func Train(c Config, dir string, log io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	t0 := time.Now()
	for name, b := range map[string][]byte{robertabpe.VocabFile: robertabpe.Vocab, robertabpe.MergesFile: robertabpe.Merges} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	cfg := Presets[c.Preset]
	cfg.Architectures = append([]string(nil), cfg.Architectures...)
	if cfg.VocabSize != tok.VocabSize() {
		return fmt.Errorf("pretrain: preset %s has %d tokens, the tokenizer %d", c.Preset, cfg.VocabSize, tok.VocabSize())
	}
	cj, err := json.MarshalIndent(&cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), append(cj, '\n')); err != nil {
		return err
	}
	seqs, err := encodeCorpus(tok, c.Seed, cfg.MaxPositionEmbeddings-2)
	if err != nil {
		return err
	}
	m, err := roberta.New(&cfg, roberta.Options{Head: roberta.MaskedLM, InitSeed: c.Seed})
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	threads, _ := torch.NumThreads()
	info := Info{Version: Version, Config: c, Model: cfg, Lines: corpusLines, PCue: corpusCue, PGreat: corpusGreat, Threads: threads,
		Note: "a demonstration model: a tiny RoBERTa pre-trained with masked-LM backprop on generated review text (pkg/data/synth), not a language model"}
	if info.FirstLoss, info.LastLoss, err = run(m, tok, seqs, c, log); err != nil {
		return err
	}
	if info.CueAccuracy, err = cueAccuracy(m, tok, c.Seed+1, cfg.MaxPositionEmbeddings-2); err != nil {
		return err
	}
	if log != nil {
		fmt.Fprintf(log, "pre-trained in %.1f s: on held-out lines the model picks the review's cue word (good/bad) %.1f%% of the time\n",
			time.Since(t0).Seconds(), 100*info.CueAccuracy)
	}
	if err := m.Save(filepath.Join(dir, WeightsFile), map[string]string{"gomezo_pretrain": key(c)}); err != nil {
		return err
	}
	info.Seconds = time.Since(t0).Seconds()
	ij, err := json.MarshalIndent(&info, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, InfoFile), append(ij, '\n'))
}

// encodeCorpus tokenizes synth.Corpus's lines (no special tokens), each cut
// to maxLen−2 tokens.
func encodeCorpus(tok *tokenizer.Tokenizer, seed uint64, maxLen int) ([][]int, error) {
	lines := synth.Corpus(seed, corpusLines, corpusCue, corpusGreat)
	seqs := make([][]int, len(lines))
	for i, l := range lines {
		ids, err := tok.Encode(l)
		if err != nil {
			return nil, fmt.Errorf("pretrain: corpus line %d: %w", i+1, err)
		}
		if len(ids) > maxLen-2 {
			ids = ids[:maxLen-2]
		}
		seqs[i] = ids
	}
	return seqs, nil
}

// mlmBatch is one masked batch: <s> ids </s> rows right-padded, the flat
// indices (row·L + position) of the masked tokens and their true ids.
type mlmBatch struct {
	B, L    int
	IDs     []int64
	Mask    []int64
	At      []int64
	Targets []int64
}

// makeBatch masks, in each row of seqs, the word the prompt asks for: the
// token before the line's final "." (great, terrible, good or bad), which
// becomes <mask>. Only that word: with RoBERTa's usual 15% of every token
// masked as well, this tiny model did not learn within a few thousand steps
// to carry the review's polarity to the masked word (the cue words stayed
// at chance on held-out lines); masking the last word alone, it does within
// 200 steps.
func makeBatch(tok *tokenizer.Tokenizer, seqs [][]int) mlmBatch {
	L := 0
	for _, s := range seqs {
		L = max(L, len(s)+2)
	}
	b := mlmBatch{B: len(seqs), L: L, IDs: make([]int64, len(seqs)*L), Mask: make([]int64, len(seqs)*L)}
	for i, s := range seqs {
		row := b.IDs[i*L : (i+1)*L]
		for j := range row {
			row[j] = int64(tok.PAD())
		}
		row[0], row[len(s)+1] = int64(tok.BOS()), int64(tok.EOS())
		for j := 0; j < len(s)+2; j++ {
			b.Mask[i*L+j] = 1
		}
		for j, id := range s {
			row[j+1] = int64(id)
		}
		if j := len(s) - 2; j >= 0 {
			b.At = append(b.At, int64(i*L+j+1))
			b.Targets = append(b.Targets, int64(s[j]))
			row[j+1] = int64(tok.Mask())
		}
	}
	return b
}

// cueAccuracy is Info.CueAccuracy on the cue-word lines of a corpus drawn
// with seed (held out when it differs from the training seed).
func cueAccuracy(m *roberta.Model, tok *tokenizer.Tokenizer, seed uint64, maxLen int) (float64, error) {
	seqs, err := encodeCorpus(tok, seed, maxLen)
	if err != nil {
		return 0, err
	}
	var cue [2]int
	for p, w := range synth.CueWords {
		if cue[p], err = tok.LabelWordID(w); err != nil {
			return 0, fmt.Errorf("pretrain: cue word %q: %w", w, err)
		}
	}
	var rows [][]int
	for _, q := range seqs {
		if len(q) >= 2 && (q[len(q)-2] == cue[0] || q[len(q)-2] == cue[1]) {
			rows = append(rows, q)
		}
		if len(rows) == 400 {
			break
		}
	}
	if len(rows) == 0 {
		return 0, errors.New("pretrain: no held-out line ends in a cue word")
	}
	hit := 0
	for i := 0; i < len(rows); i += 100 {
		b := makeBatch(tok, rows[i:min(i+100, len(rows))])
		v, err := cueLogits(m, b, cue)
		if err != nil {
			return 0, err
		}
		for r, t := range b.Targets {
			if (v[2*r+1] > v[2*r]) == (t == int64(cue[1])) {
				hit++
			}
		}
	}
	return float64(hit) / float64(len(rows)), nil
}

// cueLogits is the two cue words' logits at each masked token of b,
// row-major [masked tokens, 2], from an inference forward in its own scope.
func cueLogits(m *roberta.Model, b mlmBatch, cue [2]int) (v []float32, err error) {
	s := torch.NewScope(torch.NoGrad)
	defer func() { err = errors.Join(err, s.Close()) }()
	idx := s.FromInt64s([]int64{int64(cue[0]), int64(cue[1])}, []int64{2}, torch.CPU)
	lg := s.IndexSelect(maskedLogits(s, m, b, roberta.ForwardOptions{}), 1, idx)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return lg.Float32s()
}

// maskedLogits is the LM head's logits [masked tokens, vocabulary] of b:
// the head applied to the masked positions' last hidden states only. In s;
// nil after an error (s.Err).
func maskedLogits(s *torch.Scope, m *roberta.Model, b mlmBatch, fo roberta.ForwardOptions) *torch.Tensor {
	sh := []int64{int64(b.B), int64(b.L)}
	in := roberta.Inputs{InputIDs: s.FromInt64s(b.IDs, sh, torch.CPU), AttentionMask: s.FromInt64s(b.Mask, sh, torch.CPU)}
	enc := m.Encode(s, in, fo)
	if enc == nil {
		return nil
	}
	flat := s.Reshape(enc.Last, -1, int64(m.Config.Hidden))
	at := s.FromInt64s(b.At, []int64{int64(len(b.At))}, torch.CPU)
	return m.LMHead(s, s.IndexSelect(flat, 0, at))
}

// mlmLoss is the masked-LM cross-entropy of b, a training forward with
// dropout. In s.
func mlmLoss(s *torch.Scope, m *roberta.Model, b mlmBatch, dropoutSeed uint64) *torch.Tensor {
	logits := maskedLogits(s, m, b, roberta.ForwardOptions{Train: true, DropoutSeed: dropoutSeed})
	return s.CrossEntropy(logits, s.FromInt64s(b.Targets, []int64{int64(len(b.Targets))}, torch.CPU))
}

// run trains m on seqs: AdamW (Hugging Face's, weight decay off for biases
// and LayerNorm), linear schedule with warmup, gradient clipping. It returns
// the first step's loss and the mean of the last tenth's.
func run(m *roberta.Model, tok *tokenizer.Tokenizer, seqs [][]int, c Config, log io.Writer) (first, last float64, err error) {
	params, err := m.Params.TrainableList()
	if err != nil {
		return 0, 0, err
	}
	defer params.Close()
	var names []string
	for _, p := range m.Params.Trainable() {
		names = append(names, p.Name)
	}
	if err := m.Params.SetRequiresGrad(true); err != nil {
		return 0, 0, err
	}
	opt, err := optim.New(params, names, optim.Config{Kind: optim.Adam, WeightDecay: weightDecay})
	if err != nil {
		return 0, 0, err
	}
	defer opt.Close()
	sched, err := optim.NewSchedule("linear", c.LR, int(warmupFrac*float64(c.Steps)), c.Steps)
	if err != nil {
		return 0, 0, err
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x6d6c6d))
	order := rng.Perm(len(seqs))
	pos := 0
	tail := max(1, c.Steps/10)
	var tailSum float64
	t0 := time.Now()
	if log != nil {
		fmt.Fprintf(log, "pre-training the %s RoBERTa (masked LM on %d generated review lines): %d steps of %d, lr %g\n",
			c.Preset, len(seqs), c.Steps, c.BatchSize, c.LR)
	}
	for k := 0; k < c.Steps; k++ {
		rows := make([][]int, 0, c.BatchSize)
		for len(rows) < c.BatchSize {
			if pos == len(order) {
				order, pos = rng.Perm(len(seqs)), 0
			}
			rows = append(rows, seqs[order[pos]])
			pos++
		}
		b := makeBatch(tok, rows)
		s := torch.NewScope(torch.Grad)
		loss := mlmLoss(s, m, b, c.Seed<<20+uint64(k))
		if err := s.Err(); err != nil {
			s.Close()
			return 0, 0, fmt.Errorf("pretrain: step %d: %w", k+1, err)
		}
		lv, err := loss.Item()
		if err == nil {
			err = loss.Backward()
		}
		if err = errors.Join(err, s.Close()); err != nil {
			return 0, 0, fmt.Errorf("pretrain: step %d: %w", k+1, err)
		}
		if math.IsNaN(lv) || math.IsInf(lv, 0) {
			return 0, 0, fmt.Errorf("pretrain: step %d: loss %v", k+1, lv)
		}
		if _, err := params.ClipGradNorm(maxGradNorm); err != nil {
			return 0, 0, err
		}
		if err := opt.Step(sched.LR(k)); err != nil {
			return 0, 0, err
		}
		if err := params.ZeroGrad(false); err != nil {
			return 0, 0, err
		}
		if k == 0 {
			first = lv
		}
		if k >= c.Steps-tail {
			tailSum += lv
		}
		if log != nil && ((k+1)%100 == 0 || k+1 == c.Steps) {
			fmt.Fprintf(log, "pre-training step %d/%d: masked-LM loss %.4f (%.1f s)\n", k+1, c.Steps, lv, time.Since(t0).Seconds())
		}
	}
	return first, tailSum / float64(tail), m.Params.SetRequiresGrad(false)
}
