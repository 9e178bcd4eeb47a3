package tokenizer

import (
	"reflect"
	"testing"
)

// optVocab is OPT's layout of the specials (<s> 0, <pad> 1, </s> 2,
// <unk> 3, no <mask>) with a few byte-level tokens.
func optVocab() map[string]int {
	return map[string]int{
		"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3,
		"a": 4, "b": 5, "Ġ": 6, "ab": 7, "Ġa": 8, "Ġab": 9,
	}
}

// TestDecoderBOS: large_models' convention starts prompts with id 0, HF's
// OPT tokenizer with </s> (2); the encoding after it is the plain one, and
// </s> written in the text stays one token.
func TestDecoderBOS(t *testing.T) {
	vp, mp := writeTiny(t, optVocab(), "a b", "Ġ a", "Ġa b") // " ab" is Ġ + ab: the rank-0 merge comes first
	tok, err := FromFiles(vp, mp)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Mask() != -1 || tok.PAD() != 1 || tok.EOS() != 2 {
		t.Errorf("Mask PAD EOS = %d %d %d, want -1 1 2", tok.Mask(), tok.PAD(), tok.EOS())
	}
	for _, c := range []struct {
		conv BOSConvention
		want int
	}{{"", 0}, {BOSLargeModels, 0}, {BOSHF, 2}} {
		bos, err := tok.DecoderBOS(c.conv)
		if err != nil {
			t.Fatal(err)
		}
		if bos != c.want {
			t.Errorf("DecoderBOS(%q) = %d, want %d", c.conv, bos, c.want)
		}
		ids, err := tok.EncodeDecoder("ab ab</s>a", bos)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{c.want, 7, 6, 7, 2, 4}; !reflect.DeepEqual(ids, want) {
			t.Errorf("EncodeDecoder under %q = %v, want %v", c.conv, ids, want)
		}
	}
	if _, err := tok.DecoderBOS("bogus"); err == nil {
		t.Error("an unknown convention was accepted")
	}
}
