package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/pkg/tokenizer"
)

// `mezo tokenize`: JSON lines {"text": ...} on stdin -> {"ids", "tokens"} on
// stdout, one line per input line (pkg/tokenizer.RunJSONLines).
func init() {
	register(&cli.Command{
		Name:      "tokenize",
		Usage:     "tokenize JSON lines {\"text\": ...} from stdin into {\"ids\": [...], \"tokens\": [...]} lines on stdout",
		UsageText: "mezo tokenize (--model DIR | --vocab FILE --merges FILE | --tokenizer-json FILE) [--special] < in.jsonl > out.jsonl",
		Description: "Each input line is a JSON object; its \"text\" field is tokenized like Hugging Face's slow\n" +
			"RobertaTokenizer (other fields are ignored) and exactly one line {\"ids\": [...], \"tokens\": [...]}\n" +
			"is written for it. Without --special no <s>/</s> are added. Blank lines are skipped.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "model `DIR` holding vocab.json+merges.txt (preferred) or tokenizer.json"},
			&cli.StringFlag{Name: "vocab", Usage: "vocab.json `FILE` (with --merges)"},
			&cli.StringFlag{Name: "merges", Usage: "merges.txt `FILE` (with --vocab)"},
			&cli.StringFlag{Name: "tokenizer-json", Usage: "Hugging Face tokenizer.json `FILE`"},
			&cli.BoolFlag{Name: "special", Usage: "add <s> and </s> around each text (ids and tokens)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return errors.New("tokenize: takes no arguments (input is read from stdin)")
			}
			tok, err := loadTokenizerFlags(c.String("model"), c.String("vocab"), c.String("merges"), c.String("tokenizer-json"))
			if err != nil {
				return err
			}
			return tokenizer.RunJSONLines(tok, c.App.Reader, c.App.Writer, c.Bool("special"))
		},
	})
}

// loadTokenizerFlags loads the tokenizer named by exactly one of: a model
// directory, a vocab+merges pair, or a tokenizer.json.
func loadTokenizerFlags(model, vocab, merges, tokJSON string) (*tokenizer.Tokenizer, error) {
	ways := 0
	if model != "" {
		ways++
	}
	if vocab != "" || merges != "" {
		ways++
	}
	if tokJSON != "" {
		ways++
	}
	const choose = "give exactly one of --model DIR, --vocab FILE --merges FILE, or --tokenizer-json FILE"
	switch {
	case ways == 0:
		return nil, errors.New("tokenize: no tokenizer: " + choose)
	case ways > 1:
		return nil, errors.New("tokenize: several tokenizers given: " + choose)
	case model != "":
		return tokenizer.Load(model)
	case tokJSON != "":
		return tokenizer.FromJSON(tokJSON)
	case vocab == "" || merges == "":
		return nil, errors.New("tokenize: --vocab and --merges go together: " + choose)
	default:
		return tokenizer.FromFiles(vocab, merges)
	}
}
