package torch

import (
	"slices"
	"testing"
)

// TestGeneratorStateRoundTrip: a generator restored from a saved state
// continues the same stream (randperm and random64), and a permutation is
// a permutation.
func TestGeneratorStateRoundTrip(t *testing.T) {
	g, err := NewGenerator(CPU, 42)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Randperm(10); err != nil {
		t.Fatal(err)
	}
	st, err := g.State()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := g.Randperm(32)
	w64, _ := g.Random64()
	h, err := NewGenerator(CPU, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetState(st); err != nil {
		t.Fatal(err)
	}
	got, _ := h.Randperm(32)
	g64, _ := h.Random64()
	if !slices.Equal(got, want) || g64 != w64 {
		t.Fatalf("restored stream %v %d, original %v %d", got, g64, want, w64)
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatalf("randperm(32) is not a permutation: %v", got)
		}
	}
	if err := h.SetState([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte generator state was accepted")
	}
	if p, err := g.Randperm(0); err != nil || len(p) != 0 {
		t.Errorf("randperm(0) = %v, %v", p, err)
	}
}
