package objective_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/objective"
)

func rssBytes(t *testing.T) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(raw))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestNoLeaks: 200 forward passes, 200 perturbation passes and 200 linear
// probing feature passes and head writes grow resident memory by less than
// 5% of the model's size. Freed heap memory is handed back to the OS
// (malloc_trim) before each reading, so the readings measure live memory,
// not glibc's caches.
func TestNoLeaks(t *testing.T) {
	cfg := &hf.Config{ModelType: "roberta", VocabSize: 15000, HiddenSize: 256, NumHiddenLayers: 2,
		NumAttentionHeads: 4, IntermediateSize: 1024, MaxPositionEmbeddings: 130, TypeVocabSize: 1,
		PadTokenID: 1, LayerNormEps: 1e-5, HiddenAct: "gelu", InitializerRange: 0.02}
	// One OS thread calling libtorch and one intra-op thread: glibc gives each
	// new calling thread its own malloc arena, and Go may move a goroutine to
	// a fresh thread at any call, which shows up as a few MB of new resident
	// memory that is an arena, not a leak.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threads, _ := torch.NumThreads()
	if err := torch.SetNumThreads(1); err != nil {
		t.Fatal(err)
	}
	defer torch.SetNumThreads(threads)
	m, err := roberta.New(cfg, roberta.Options{Head: roberta.Prompt, NumLabels: 2, InitSeed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	all, _, _ := m.Params.Numel()
	size := all * 4
	pl, err := m.Params.TrainableList()
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	ids := make([]int64, 4*32)
	mask := make([]int64, 4*32)
	for i := range ids {
		ids[i] = int64(3 + (i*7919)%14000)
		mask[i] = 1
	}
	b := &batch.Batch{InputIDs: ids, AttentionMask: mask, Size: 4, Len: 32, MaskPos: []int64{1, 2, 3, 4}, Labels: []int64{0, 1, 0, 1}}
	ob, err := objective.New(m, objective.Options{Kind: objective.Prompt, LabelWords: []int64{10, 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	step := func(i int) {
		if _, err := ob.Loss(b); err != nil {
			t.Fatal(err)
		}
		if err := pl.Perturb(uint64(i), 1, 1e-3); err != nil {
			t.Fatal(err)
		}
		// Linear probing's feature pass and head write.
		feat, d, err := ob.Features(b)
		if err != nil {
			t.Fatal(err)
		}
		W := [][]float64{make([]float64, d), make([]float64, d)}
		for j := 0; j < d; j++ {
			W[0][j], W[1][j] = float64(feat[j]), -float64(feat[j])
		}
		if err := ob.WriteHead(W, []float64{0.5, -0.5}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ { // warm up allocator caches and scratch buffers
		step(i)
	}
	debug.FreeOSMemory()
	if err := torch.ReleaseMemory(); err != nil {
		t.Fatal(err)
	}
	before := rssBytes(t)
	for i := 0; i < 200; i++ {
		step(i)
	}
	debug.FreeOSMemory()
	if err := torch.ReleaseMemory(); err != nil {
		t.Fatal(err)
	}
	after := rssBytes(t)
	growth := after - before
	t.Logf("model %.1f MB; RSS %.1f → %.1f MB after 200 forward, perturbation and probe passes (growth %.2f%% of the model)",
		float64(size)/1e6, float64(before)/1e6, float64(after)/1e6, 100*float64(growth)/float64(size))
	if float64(growth) > 0.05*float64(size) {
		t.Fatalf("resident memory grew by %d bytes, over 5%% of the model's %d bytes", growth, size)
	}
}
