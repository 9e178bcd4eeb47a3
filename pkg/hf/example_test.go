package hf_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomezo/gomezo/pkg/hf"
)

// A loader checks a checkpoint's keys, fills the tied decoder when a
// checkpoint omits it, and reads the tensors.
func Example() {
	dir, err := os.MkdirTemp("", "hf-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A tiny "checkpoint" without the tied decoder weight.
	sd := hf.NewStateDict()
	for _, x := range []struct {
		name  string
		shape []int64
		v     []float32
	}{
		{"roberta.embeddings.word_embeddings.weight", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6}},
		{"lm_head.bias", []int64{3}, []float32{0.5, 0, -0.5}},
		{"lm_head.decoder.bias", []int64{3}, []float32{0.5, 0, -0.5}},
	} {
		t, err := hf.FromFloat32s(x.shape, x.v)
		if err != nil {
			log.Fatal(err)
		}
		sd.Set(x.name, t)
	}
	pos, err := hf.FromInt64s([]int64{1, 4}, []int64{0, 1, 2, 3})
	if err != nil {
		log.Fatal(err)
	}
	sd.Set("roberta.embeddings.position_ids", pos)
	path := filepath.Join(dir, "model.safetensors")
	if err := hf.WriteSafetensors(path, sd, nil); err != nil {
		log.Fatal(err)
	}

	got, err := hf.ReadSafetensors(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("file order:", got.Names)

	e := hf.Expect{Source: path}
	e.Add("roberta.embeddings.word_embeddings.weight", hf.F32, 3, 2)
	e.Add("lm_head.bias", hf.F32, 3)
	e.AddOptional("lm_head.decoder.weight", hf.F32, 3, 2)
	e.AddOptional("lm_head.decoder.bias", hf.F32, 3)
	e.Ignore("roberta.embeddings.position_ids")
	if err := e.Check(got); err != nil {
		log.Fatal(err)
	}
	fmt.Println("filled:", got.FillTied(hf.RobertaTied))
	w, _ := got.Get("lm_head.decoder.weight").Float32s()
	fmt.Println("decoder:", w)

	e.Add("lm_head.dense.weight", hf.F32, 2, 2)
	fmt.Println(e.Check(got) != nil)
	// Output:
	// file order: [roberta.embeddings.position_ids lm_head.bias lm_head.decoder.bias roberta.embeddings.word_embeddings.weight]
	// filled: [lm_head.decoder.weight]
	// decoder: [1 2 3 4 5 6]
	// true
}
