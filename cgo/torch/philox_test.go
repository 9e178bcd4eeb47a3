package torch

import (
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestPhilox4x32KnownAnswers: the generator's block function reproduces
// Random123's published known-answer vectors (kat_vectors, philox4x32 10).
func TestPhilox4x32KnownAnswers(t *testing.T) {
	for _, c := range []struct {
		ctr      [4]uint32
		key      [2]uint32
		expected [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		got, err := Philox4x32(c.ctr, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.expected {
			t.Errorf("philox4x32_10(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.expected)
		}
	}
}

// philoxZ fills a fresh float32 CPU tensor of n elements with z(seed, index,
// offset+i) in parts of grain elements and returns the values.
func philoxZ(t *testing.T, n int64, seed uint64, index, offset, grain int64) []float32 {
	t.Helper()
	x, err := Zeros([]int64{n}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := PhiloxFill(x, seed, index, offset, grain); err != nil {
		t.Fatal(err)
	}
	v, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// withThreads runs f with n intra-op threads, restoring the count after.
func withThreads(t *testing.T, n int, f func()) {
	t.Helper()
	old, err := NumThreads()
	if err != nil {
		t.Fatal(err)
	}
	if err := SetNumThreads(n); err != nil {
		t.Fatal(err)
	}
	defer SetNumThreads(old)
	f()
}

// TestPhiloxZSameEverywhere: z is a pure function of (seed, tensor, element):
// the same values on 1 and 2 threads, for every work-unit size, and for any
// part of a tensor filled on its own (parts not aligned to the 32-element
// groups take the scalar code path, whole groups the SIMD one).
func TestPhiloxZSameEverywhere(t *testing.T) {
	const n = 100003
	var ref []float32
	withThreads(t, 1, func() { ref = philoxZ(t, n, 11, 3, 0, 1<<18) })
	for _, threads := range []int{1, 2} {
		for _, grain := range []int64{32, 96, 4096, 1 << 18} {
			withThreads(t, threads, func() {
				if got := philoxZ(t, n, 11, 3, 0, grain); !slices.Equal(got, ref) {
					t.Errorf("%d threads, grain %d: z differs", threads, grain)
				}
			})
		}
	}
	for _, part := range [][2]int64{{0, 1}, {5, 27}, {31, 2}, {1, 31}, {7, 64}, {33, 1000}, {99990, 13}} {
		got := philoxZ(t, part[1], 11, 3, part[0], 32)
		if want := ref[part[0] : part[0]+part[1]]; !slices.Equal(got, want) {
			t.Errorf("elements [%d, %d) filled alone differ from the whole tensor's", part[0], part[0]+part[1])
		}
	}
	// float64 tensors take the same (float32) values.
	x, _ := Zeros([]int64{1000}, Float64, CPU)
	defer x.Close()
	if err := PhiloxFill(x, 11, 3, 0, 32); err != nil {
		t.Fatal(err)
	}
	d, _ := x.Float64s()
	for i, v := range d {
		if v != float64(ref[i]) {
			t.Fatalf("float64 element %d = %v, float32 %v", i, v, ref[i])
		}
	}
	i64, _ := Zeros([]int64{10}, Int64, CPU)
	defer i64.Close()
	if err := PhiloxFill(i64, 1, 0, 0, 32); err == nil || !strings.Contains(err.Error(), "float32 or float64") {
		t.Errorf("an int64 tensor: %v", err)
	}
}

// TestPhiloxZNormal: 10M draws are N(0, 1): mean, variance and kurtosis
// within 5 standard errors, and the Kolmogorov–Smirnov distance to Φ under
// the 0.1% critical value 1.95/√n.
func TestPhiloxZNormal(t *testing.T) {
	const n = 10_000_000
	z := philoxZ(t, n, 20260, 0, 0, 1<<18)
	var s1, s2, s4 float64
	for _, v := range z {
		x := float64(v)
		s1 += x
		s2 += x * x
		s4 += x * x * x * x
	}
	mean, m2, m4 := s1/n, s2/n, s4/n
	if math.Abs(mean) > 5/math.Sqrt(n) {
		t.Errorf("mean %.3g: more than 5 standard errors from 0", mean)
	}
	if v := m2 - mean*mean; math.Abs(v-1) > 5*math.Sqrt(2.0/n) {
		t.Errorf("variance %.6f: more than 5 standard errors from 1", v)
	}
	if math.Abs(m4-3) > 5*math.Sqrt(96.0/n) {
		t.Errorf("fourth moment %.5f: more than 5 standard errors from 3", m4)
	}
	sort.Slice(z, func(i, j int) bool { return z[i] < z[j] })
	d := 0.0
	for i, v := range z {
		cdf := 0.5 * math.Erfc(-float64(v)/math.Sqrt2)
		d = math.Max(d, math.Max(math.Abs(cdf-float64(i)/n), math.Abs(float64(i+1)/n-cdf)))
	}
	if crit := 1.95 / math.Sqrt(n); d > crit {
		t.Errorf("Kolmogorov–Smirnov distance %.3g to N(0, 1) exceeds the 0.1%% critical value %.3g", d, crit)
	}
	t.Logf("10M draws: mean %.2g, variance %.5f, E z⁴ %.4f, KS distance %.2g, range [%.3f, %.3f]", mean, m2-mean*mean, m4, d, z[0], z[n-1])
}

// TestPhiloxZIndependent: z of different tensors, different seeds, and
// elements a lane, a Box–Muller pair or a group apart are uncorrelated
// (|ρ| < 5/√n), and differ everywhere.
func TestPhiloxZIndependent(t *testing.T) {
	const n = 1 << 20
	corr := func(a, b []float32) float64 {
		var sa, sb, sab, saa, sbb float64
		for i := range a {
			x, y := float64(a[i]), float64(b[i])
			sa, sb, sab, saa, sbb = sa+x, sb+y, sab+x*y, saa+x*x, sbb+y*y
		}
		m := float64(len(a))
		return (sab/m - sa/m*sb/m) / math.Sqrt((saa/m-sa*sa/m/m)*(sbb/m-sb*sb/m/m))
	}
	base := philoxZ(t, n+64, 5, 0, 0, 1<<18)
	cases := map[string][]float32{
		"tensor 1":    philoxZ(t, n, 5, 1, 0, 1<<18),
		"tensor 2^31": philoxZ(t, n, 5, 1<<31, 0, 1<<18),
		"seed 6":      philoxZ(t, n, 6, 0, 0, 1<<18),
		"seed 5+2^32": philoxZ(t, n, 5+1<<32, 0, 0, 1<<18),
		"lag 1":       base[1 : n+1],
		"lag 8":       base[8 : n+8],
		"lag 16":      base[16 : n+16],
		"lag 32":      base[32 : n+32],
	}
	sq := func(v []float32) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = x * x
		}
		return out
	}
	a, a2 := base[:n], sq(base[:n])
	for name, b := range cases {
		if r := corr(a, b); math.Abs(r) > 5/math.Sqrt(n) {
			t.Errorf("%s: correlation %.4f", name, r)
		}
		// r·cos and r·sin share r: their squares would correlate if the
		// pair were not independent normals.
		if r := corr(a2, sq(b)); math.Abs(r) > 5/math.Sqrt(n) {
			t.Errorf("%s: correlation of squares %.4f", name, r)
		}
		same := 0
		for i := range b {
			if a[i] == b[i] {
				same++
			}
		}
		if same > n/1000 {
			t.Errorf("%s: %d of %d values equal", name, same, n)
		}
	}
}

// TestPhiloxParamList: a list in philox mode perturbs tensor i along
// z(seed, i, ·) exactly (θ + fl(scale·ε)·z in float32), +ε −2ε +ε comes
// back to within rounding, the fused restore+update equals its definition,
// and the result does not depend on the chunk size or the thread count.
func TestPhiloxParamList(t *testing.T) {
	shapes := [][]int64{{3000, 7}, {5}, {64}, {1, 33}}
	mk := func() ([]*Tensor, *ParamList) {
		var ts []*Tensor
		for i, s := range shapes {
			x, err := Randn(s, uint64(i+1), Float32, CPU)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, x)
		}
		pl, err := NewParamList(ts)
		if err != nil {
			t.Fatal(err)
		}
		if err := pl.SetZStream(ZPhilox); err != nil {
			t.Fatal(err)
		}
		return ts, pl
	}
	ts, pl := mk()
	defer pl.Close()
	var before [][]float32
	for _, x := range ts {
		v, _ := x.Float32s()
		before = append(before, v)
		defer x.Close()
	}
	const seed, eps = 77, 1e-3
	if err := pl.Perturb(seed, 1, eps); err != nil {
		t.Fatal(err)
	}
	a := float32(1 * eps)
	for i, x := range ts {
		got, _ := x.Float32s()
		z := philoxZ(t, int64(len(got)), seed, int64(i), 0, 32)
		for j := range got {
			if want := before[i][j] + float32(a*z[j]); got[j] != want {
				t.Fatalf("tensor %d element %d: %v, want θ + εz = %v", i, j, got[j], want)
			}
		}
	}
	if err := pl.Perturb(seed, -2, eps); err != nil {
		t.Fatal(err)
	}
	if err := pl.Perturb(seed, 1, eps); err != nil {
		t.Fatal(err)
	}
	for i, x := range ts {
		got, _ := x.Float32s()
		for j := range got {
			if d := math.Abs(float64(got[j] - before[i][j])); d > 4e-7*math.Max(1, math.Abs(float64(before[i][j]))) {
				t.Fatalf("tensor %d element %d: +ε −2ε +ε moved it by %g", i, j, d)
			}
		}
	}
	// The fused restore + update from θ − εz: θ' = θ + ε·z; θ' − lr·(g·z + wd·θ').
	if err := pl.Perturb(seed, -1, eps); err != nil {
		t.Fatal(err)
	}
	var minus [][]float32
	for _, x := range ts {
		v, _ := x.Float32s()
		minus = append(minus, v)
	}
	const g, lr, wd = 2.5, 1e-2, 0.1
	if err := pl.RestoreUpdate(seed, eps, g, lr, wd); err != nil {
		t.Fatal(err)
	}
	var fused [][]float32
	for i, x := range ts {
		got, _ := x.Float32s()
		fused = append(fused, got)
		z := philoxZ(t, int64(len(got)), seed, int64(i), 0, 32)
		for j := range got {
			th := minus[i][j] + float32(float32(eps)*z[j])
			want := th - float32(float32(lr)*(float32(float32(g)*z[j])+float32(float32(wd)*th)))
			if got[j] != want {
				t.Fatalf("tensor %d element %d: restore+update %v, want %v", i, j, got[j], want)
			}
		}
	}
	// Another list, chunked differently and on another thread count, ends
	// in the same state bit for bit.
	for _, c := range []struct {
		threads int
		chunk   int64
	}{{1, 32}, {2, 48}, {2, 1 << 18}} {
		ts2, pl2 := mk()
		withThreads(t, c.threads, func() {
			if err := pl2.SetZChunk(c.chunk); err != nil {
				t.Fatal(err)
			}
			for _, s := range []float64{1, -2, 1, -1} {
				if err := pl2.Perturb(seed, s, eps); err != nil {
					t.Fatal(err)
				}
			}
			if err := pl2.RestoreUpdate(seed, eps, g, lr, wd); err != nil {
				t.Fatal(err)
			}
		})
		for i, x := range ts2 {
			got, _ := x.Float32s()
			if !slices.Equal(got, fused[i]) {
				t.Errorf("%d threads, chunk %d: tensor %d differs", c.threads, c.chunk, i)
			}
			x.Close()
		}
		pl2.Close()
	}
}

// TestCUDAPhiloxEqualsCPU: on a GPU the philox z and the fused passes give
// the CPU's values bit for bit (the kernel is built with -fmad=false).
func TestCUDAPhiloxEqualsCPU(t *testing.T) {
	n, err := CUDADeviceCount()
	if err != nil || n == 0 {
		t.Skipf("SKIP (no GPU): no CUDA device (count %d, %v); this test runs on a GPU machine", n, err)
	}
	if !PhiloxCUDAKernels() {
		t.Fatal("a CUDA device but a shim without the philox kernel: build it with nvcc on PATH or CUDA_HOME set")
	}
	const size = 1<<20 + 77
	want := philoxZ(t, size, 9, 4, 13, 1<<18)
	x, err := Zeros([]int64{size}, Float32, CUDA(0))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := PhiloxFill(x, 9, 4, 13, 32); err != nil {
		t.Fatal(err)
	}
	got, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	diff := 0
	for i := range got {
		if got[i] != want[i] {
			diff++
		}
	}
	if diff > 0 {
		t.Fatalf("%d of %d CUDA z values differ from the CPU's", diff, size)
	}
	// A whole pass: the same list on both devices, perturbed and updated.
	run := func(dev Device) [][]float32 {
		var ts []*Tensor
		for i, s := range [][]int64{{4099, 3}, {7}, {1 << 16}} {
			c, _ := Randn(s, uint64(i+1), Float32, CPU)
			d, err := c.To(Float32, dev)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, d)
		}
		pl, _ := NewParamList(ts)
		defer pl.Close()
		if err := pl.SetZStream(ZPhilox); err != nil {
			t.Fatal(err)
		}
		for _, s := range []float64{1, -2} {
			if err := pl.Perturb(3, s, 1e-3); err != nil {
				t.Fatal(err)
			}
		}
		if err := pl.RestoreUpdate(3, 1e-3, 0.7, 1e-2, 0.01); err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for _, x := range ts {
			v, err := x.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
			x.Close()
		}
		return out
	}
	cpu, gpu := run(CPU), run(CUDA(0))
	for i := range cpu {
		if !slices.Equal(cpu[i], gpu[i]) {
			t.Errorf("tensor %d: the CUDA pass differs from the CPU's", i)
		}
	}
}
