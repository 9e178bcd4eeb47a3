// Package robertabpe embeds RoBERTa's byte-level BPE files, unchanged:
// vocab.json (50265 tokens, ids 0..50264) and merges.txt (50000 merges), the
// files of FacebookAI/roberta-base (and roberta-large) on the Hugging Face
// hub, under the MIT licence in LICENSE. The quickstart's tiny RoBERTa
// (pkg/pretrain) uses them so that `mezo run recipes/quickstart.yaml` needs
// nothing but the repository. Pure Go.
package robertabpe

import _ "embed"

// The file names, as a Hugging Face model directory holds them.
const (
	VocabFile  = "vocab.json"
	MergesFile = "merges.txt"
)

// Vocab is vocab.json's bytes (token → id).
//
//go:embed vocab.json
var Vocab []byte

// Merges is merges.txt's bytes ("#version: 0.2", then one merge per line
// by rank).
//
//go:embed merges.txt
var Merges []byte
