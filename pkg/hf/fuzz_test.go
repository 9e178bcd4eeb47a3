package hf

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReadSafetensors checks that no input makes the reader panic; the
// seeds are a valid file and hand-made headers.
func FuzzReadSafetensors(f *testing.F) {
	sd := mixedStateDict()
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.safetensors")
	if err := WriteSafetensors(p, sd, nil); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b)
	f.Add(buildSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(buildSafetensors(`{"__metadata__":{"format":"pt"}}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.safetensors")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if sd, err := ReadSafetensors(p); err == nil {
			if err := sd.Validate(); err != nil {
				t.Fatalf("read an invalid state dict: %v", err)
			}
		}
	})
}

// FuzzReadTorchBin checks that no input makes the .bin reader panic.
func FuzzReadTorchBin(f *testing.F) {
	for _, n := range []string{"legacy.bin", "zip.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if sd, err := ReadTorchBin(p); err == nil {
			if err := sd.Validate(); err != nil {
				t.Fatalf("read an invalid state dict: %v", err)
			}
		}
	})
}

// TestMutatedFiles reads a few thousand randomly damaged copies of the test
// files (seeded, so reproducible): every read must return an error or a
// valid state dict, within a second, and never panic or exhaust memory.
func TestMutatedFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	seeds := map[string]func(string) (*StateDict, error){
		"legacy.bin": ReadTorchBin, "zip.bin": ReadTorchBin,
	}
	st := writeTemp(t, mixedStateDict())
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	run := func(name string, orig []byte, read func(string) (*StateDict, error)) {
		for it := 0; it < 1500; it++ {
			b := append([]byte(nil), orig...)
			for k := 0; k < 1+rng.Intn(4); k++ {
				i := rng.Intn(len(b))
				switch rng.Intn(4) {
				case 0:
					b[i] = byte(rng.Intn(256))
				case 1:
					b = b[:i+1]
				case 2:
					b[i] ^= 1 << rng.Intn(8)
				case 3: // a big length-like value
					for j := i; j < min(i+4, len(b)); j++ {
						b[j] = 0x7f
					}
				}
			}
			p := filepath.Join(dir, "m")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				sd, err := read(p)
				if err == nil {
					err = sd.Validate()
					if err != nil {
						err = fmt.Errorf("read an invalid state dict: %w", err)
					} else {
						err = nil
					}
				} else {
					err = nil
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s mutation %d: %v", name, it, err)
				}
			case <-time.After(time.Second):
				t.Fatalf("%s mutation %d: read took over a second", name, it)
			}
		}
	}
	for name, read := range seeds {
		orig, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		run(name, orig, read)
	}
	orig, _ := os.ReadFile(st)
	run("safetensors", orig, ReadSafetensors)
}
