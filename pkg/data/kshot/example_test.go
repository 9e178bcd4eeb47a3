package kshot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomezo/gomezo/pkg/data/kshot"
)

// Generate 4-shot splits of a small CSV task for one seed and list what was
// written.
func ExampleGenerate() {
	out, err := os.MkdirTemp("", "kshot-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(out)
	err = kshot.Generate(kshot.Options{
		Tasks:     []string{"mpqa"},
		Seeds:     []int{13},
		K:         []int{4},
		DataDir:   filepath.Join("testdata", "original"),
		OutputDir: out,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range []string{"train.csv", "dev.csv", "test.csv"} {
		b, _ := os.ReadFile(filepath.Join(out, "mpqa", "4-13", f))
		fmt.Println(f, strings.Count(string(b), "\n"), "lines")
	}
	// Output:
	// train.csv 8 lines
	// dev.csv 8 lines
	// test.csv 43 lines
}
