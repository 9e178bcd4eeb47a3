package lmbff

// Tokenizer is what the pipeline needs from a byte-level BPE tokenizer.
// *tokenizer.Tokenizer (pkg/tokenizer) satisfies it.
type Tokenizer interface {
	// Encode is Hugging Face's tokenizer.encode(text, add_special_tokens=False):
	// the ids of text, with "" giving no ids.
	Encode(text string) ([]int, error)
	// TokenToID is convert_tokens_to_ids for one token: a direct vocabulary
	// lookup, reporting false for a token the vocabulary lacks.
	TokenToID(tok string) (int, bool)
	// BOS, EOS, PAD, UNK, Mask, CLS and SEP are the special token ids
	// (RoBERTa: 0, 2, 1, 3, 50264, 0, 2).
	BOS() int
	EOS() int
	PAD() int
	UNK() int
	Mask() int
	CLS() int
	SEP() int
}

// Permuter draws a random permutation of 0..n-1. numpy's legacy
// RandomState.permutation (pkg/nprand) is the one that reproduces the
// reference.
type Permuter interface {
	Permutation(n int) []int
}
