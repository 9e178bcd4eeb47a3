package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

// `mezo data encode`: render a split as the model sees it, one JSON line per
// example (pkg/data/lmbff.WriteEncoded), or print the label word ids.
func init() {
	registerData(&cli.Command{
		Name:  "encode",
		Usage: "encode a k-shot split with the LM-BFF templates into JSON lines of token ids",
		UsageText: "mezo data encode --task T --data-dir D [--split train|dev|test] [--mode prompt|prompt-demo|finetune]\n" +
			"   [--template T] [--mapping M] [--max-length N] [--first-sent-limit N] [--other-sent-limit N]\n" +
			"   (--model DIR | --vocab FILE --merges FILE | --tokenizer-json FILE) [--label-words]",
		Description: "Writes one line {\"input_ids\": [...], \"attention_mask\": [...], \"mask_pos\": N, \"label_id\": N} per\n" +
			"example (unpadded; mask_pos is null in finetune mode). Settings not given take the task's defaults from\n" +
			"the reference's run_fewshot.sh. With --label-words, prints {\"label_word_ids\": [...]} instead.\n" +
			"In prompt-demo mode, dev and test give --num-sample lines per example (sample-major), with demonstrations\n" +
			"drawn from numpy's RandomState seeded with --seed.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "task", Usage: "task `NAME` (SST-2, sst-5, mr, cr, mpqa, subj, trec, MNLI, MNLI-mm, SNLI, RTE, ...)", Required: true},
			&cli.StringFlag{Name: "data-dir", Usage: "k-shot `DIR` holding the task's train/dev/test files"},
			&cli.StringFlag{Name: "split", Value: "train", Usage: "`SPLIT` to encode: train, dev or test"},
			&cli.StringFlag{Name: "mode", Value: "prompt", Usage: "`MODE`: prompt, prompt-demo or finetune"},
			&cli.StringFlag{Name: "template", Usage: "LM-BFF `TEMPLATE` (default: the task's)"},
			&cli.StringFlag{Name: "mapping", Usage: "label word `MAPPING`, e.g. \"{'0':'terrible','1':'great'}\" (default: the task's)"},
			&cli.IntFlag{Name: "max-length", Usage: "max sequence length `N` (default: the task's, 128 or 256)"},
			&cli.IntFlag{Name: "first-sent-limit", Usage: "cut sentence 0 to `N` tokens; 0: no limit (default: the task's)"},
			&cli.IntFlag{Name: "other-sent-limit", Usage: "cut the other sentences to `N` tokens; 0: no limit (default: the task's)"},
			&cli.IntFlag{Name: "num-sample", Usage: "prompt-demo: demonstration draws `N` per dev/test example (default: the task's)"},
			&cli.BoolFlag{Name: "double-demo", Usage: "prompt-demo: double the max length (default: the task's)"},
			&cli.BoolFlag{Name: "truncate-head", Usage: "prompt-demo: keep the last max-length tokens instead of the first"},
			&cli.UintFlag{Name: "seed", Value: 42, Usage: "numpy `SEED` for the demonstration draws"},
			&cli.BoolFlag{Name: "label-words", Usage: "print the label word ids instead of encoding"},
			&cli.StringFlag{Name: "model", Usage: "model `DIR` holding vocab.json+merges.txt or tokenizer.json"},
			&cli.StringFlag{Name: "vocab", Usage: "vocab.json `FILE` (with --merges)"},
			&cli.StringFlag{Name: "merges", Usage: "merges.txt `FILE` (with --vocab)"},
			&cli.StringFlag{Name: "tokenizer-json", Usage: "Hugging Face tokenizer.json `FILE`"},
		},
		Action: dataEncode,
	})
}

func dataEncode(c *cli.Context) error {
	if c.NArg() > 0 {
		return errors.New("data encode: takes no arguments")
	}
	task, err := lmbff.LookupTask(c.String("task"))
	if err != nil {
		return err
	}
	mode, err := lmbff.ParseMode(c.String("mode"))
	if err != nil {
		return err
	}
	cfg := task.DefaultConfig(mode)
	if c.IsSet("template") {
		cfg.Template = c.String("template")
	}
	if c.IsSet("mapping") {
		cfg.Mapping = c.String("mapping")
	}
	if c.IsSet("max-length") {
		cfg.MaxLength = c.Int("max-length")
	}
	if c.IsSet("first-sent-limit") {
		cfg.FirstSentLimit = c.Int("first-sent-limit")
	}
	if c.IsSet("other-sent-limit") {
		cfg.OtherSentLimit = c.Int("other-sent-limit")
	}
	if c.IsSet("num-sample") {
		cfg.NumSample = c.Int("num-sample")
	}
	if c.IsSet("double-demo") {
		cfg.DoubleDemo = c.Bool("double-demo")
	}
	cfg.TruncateHead = c.Bool("truncate-head")
	tok, err := loadTokenizerFlags(c.String("model"), c.String("vocab"), c.String("merges"), c.String("tokenizer-json"))
	if err != nil {
		return err
	}
	if c.Bool("label-words") {
		return lmbff.WriteLabelWords(c.App.Writer, tok, task, cfg)
	}
	split, err := lmbff.ParseSplit(c.String("split"))
	if err != nil {
		return err
	}
	if c.String("data-dir") == "" {
		return errors.New("data encode: --data-dir is required")
	}
	seed := c.Uint("seed")
	if uint(uint32(seed)) != seed {
		return errors.New("data encode: --seed must fit in 32 bits")
	}
	return lmbff.WriteEncoded(c.App.Writer, tok, lmbff.EncodeRequest{
		Task: task, DataDir: c.String("data-dir"), Split: split, Config: cfg, Seed: uint32(seed),
	})
}
