package torch

import (
	"bytes"
	"testing"
)

// TestChunkedZEqualsWhole: drawing z in parts of a tensor (the default on the
// CPU) gives bit for bit the whole-tensor stream, for sizes around the
// 16-element blocks of ATen's normal_ and around the part boundaries, in
// perturbation and in the update with weight decay.
func TestChunkedZEqualsWhole(t *testing.T) {
	sizes := []int64{1, 5, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 129, 1000, 4096 + 5, 4096 + 17, 12345}
	for _, chunk := range []int64{16, 32, 48, 64, 1 << 18} {
		run := func(c int64) [][]byte {
			var ts []*Tensor
			for i, n := range sizes {
				x, err := Full([]int64{n}, float64(i)+0.5, Float32, CPU)
				if err != nil {
					t.Fatal(err)
				}
				defer x.Close()
				ts = append(ts, x)
			}
			pl, err := NewParamList(ts)
			if err != nil {
				t.Fatal(err)
			}
			defer pl.Close()
			if err := pl.SetZChunk(c); err != nil {
				t.Fatal(err)
			}
			if err := pl.Perturb(7, 1, 1e-3); err != nil {
				t.Fatal(err)
			}
			if err := pl.Perturb(8, -2, 1); err != nil {
				t.Fatal(err)
			}
			if err := pl.Update(9, 0.37, 0.01, 0.1); err != nil {
				t.Fatal(err)
			}
			var out [][]byte
			for _, x := range ts {
				b, err := x.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b)
			}
			return out
		}
		whole, parts := run(0), run(chunk)
		for i := range whole {
			if !bytes.Equal(whole[i], parts[i]) {
				t.Errorf("chunk %d: tensor of %d elements differs from the whole-tensor stream", chunk, sizes[i])
			}
		}
	}
}

func TestSetZChunkRejectsBadSizes(t *testing.T) {
	x, err := Zeros([]int64{4}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	pl, err := NewParamList([]*Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	for _, n := range []int64{-16, 10, 17} {
		if err := pl.SetZChunk(n); err == nil {
			t.Errorf("SetZChunk(%d) accepted", n)
		}
	}
}

// TestCPUMemoryCounts: the shim's CPU allocator counts a tensor's bytes
// while it lives and the peak it reached.
func TestCPUMemoryCounts(t *testing.T) {
	before, err := CPUMemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	if !before.Counting {
		t.Fatal("the counting CPU allocator is not installed (MZ_DEFAULT_CPU_ALLOCATOR set?)")
	}
	if err := ResetCPUPeak(); err != nil {
		t.Fatal(err)
	}
	const n = 1 << 20
	x, err := Zeros([]int64{n}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	during, _ := CPUMemoryStats()
	if got := during.Live - before.Live; got != 4*n {
		t.Errorf("live grew by %d bytes for a %d-byte tensor", got, 4*n)
	}
	x.Close()
	after, _ := CPUMemoryStats()
	if after.Live != before.Live {
		t.Errorf("live %d after Close, %d before", after.Live, before.Live)
	}
	if after.Peak-before.Live < 4*n {
		t.Errorf("peak %d did not record the tensor (live before %d)", after.Peak, before.Live)
	}
}

func TestBLASInfo(t *testing.T) {
	b, err := BLASInfo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BLAS: %+v", b)
	if b.Vendor == "none" || b.Library == "" {
		t.Errorf("no BLAS found behind libtorch: %+v", b)
	}
}

// TestScopeBlock: a block hands back its result and frees the rest; Escape
// moves an extra output to the parent; Free leaves tensors it does not own;
// an error inside a block is the parent's error.
func TestScopeBlock(t *testing.T) {
	x, err := Ones([]int64{4}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	s := NewScope(NoGrad)
	defer s.Close()
	var extra, inner *Tensor
	out := s.Block(func(b *Scope) *Tensor {
		inner = b.AddScalar(x, 1)
		extra = b.Escape(b.MulScalar(inner, 3))
		return b.MulScalar(inner, 2)
	})
	if s.Len() != 2 {
		t.Errorf("parent owns %d tensors after the block, want 2 (result and escaped)", s.Len())
	}
	if !inner.Closed() {
		t.Error("the block's intermediate was not freed")
	}
	if v, _ := out.Float32s(); v[0] != 4 {
		t.Errorf("block result %v, want 4", v)
	}
	if v, _ := extra.Float32s(); v[0] != 6 {
		t.Errorf("escaped %v, want 6", v)
	}
	if got := s.Block(func(b *Scope) *Tensor { return x }); got != x {
		t.Error("a block returning its input did not return it")
	}
	s.Free(x) // not owned: must stay open
	if x.Closed() {
		t.Fatal("Free closed a tensor the scope does not own")
	}
	s.Free(out)
	if !out.Closed() || s.Len() != 1 {
		t.Errorf("Free of an owned tensor: closed %v, %d owned", out.Closed(), s.Len())
	}
	if got := s.Block(func(b *Scope) *Tensor { return b.Reshape(x, 3) }); got != nil || s.Err() == nil {
		t.Errorf("an error inside a block: result %v, parent error %v", got, s.Err())
	}
}
