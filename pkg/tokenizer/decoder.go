package tokenizer

import "fmt"

// BOS conventions for decoder-only models (OPT). Hugging Face's OPT
// tokenizer (GPT2Tokenizer with add_bos_token) starts every encoding with
// its bos_token, "</s>" (id 2 in OPT's vocabulary). MeZO's large_models
// run.py overrides that for OPT ("HF tokenizer bug fix":
// tokenizer.bos_token_id = 0), so its prompts start with id 0, "<s>".
type BOSConvention string

const (
	// BOSLargeModels is large_models' convention: id 0 (MeZO's results).
	BOSLargeModels BOSConvention = "large_models"
	// BOSHF is Hugging Face's OPT tokenizer as shipped: "</s>".
	BOSHF BOSConvention = "hf"
)

// DecoderBOS returns the id a decoder prompt starts with under c ("" means
// BOSLargeModels).
func (t *Tokenizer) DecoderBOS(c BOSConvention) (int, error) {
	switch c {
	case "", BOSLargeModels:
		if _, ok := t.idToTok[0]; !ok {
			return 0, fmt.Errorf("tokenizer: %s: the large_models BOS convention needs a token with id 0", t.source)
		}
		return 0, nil
	case BOSHF:
		id, ok := t.vocab["</s>"]
		if !ok {
			return 0, fmt.Errorf("tokenizer: %s: the hf BOS convention needs </s> in the vocabulary", t.source)
		}
		return id, nil
	}
	return 0, fmt.Errorf("tokenizer: unknown BOS convention %q (want %s or %s)", c, BOSLargeModels, BOSHF)
}

// EncodeDecoder returns [bos] + Encode(text): what HF's OPT tokenizer's
// encode(text) gives, with bos chosen by DecoderBOS.
func (t *Tokenizer) EncodeDecoder(text string, bos int) ([]int, error) {
	ids, err := t.Encode(text)
	if err != nil {
		return nil, err
	}
	return append([]int{bos}, ids...), nil
}
