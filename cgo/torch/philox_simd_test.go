package torch

import (
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// TestPhiloxZVectorEqualsScalar: the SIMD code (whole runs of groups, in
// whatever width the CPU's clone uses) gives the scalar definition's values
// bit for bit. The scalar reference is filled in pieces of 31 elements,
// which never hold a whole group and so always take the scalar path; the
// offsets include element indices whose counter n = 8·G + v carries into
// its high word (n ≥ 2³², index ≥ 2³⁷) and runs that start just before the
// carry, so a 16-lane vector spanning two groups straddles it.
func TestPhiloxZVectorEqualsScalar(t *testing.T) {
	eachPhiloxSIMD(t, func(simd string) {
		testPhiloxZVectorEqualsScalar(t, simd)
	})
}

// eachPhiloxSIMD runs f under every CPU build of the philox passes this
// CPU has (and logs the ones it lacks), restoring the default after.
func eachPhiloxSIMD(t *testing.T, f func(simd string)) {
	t.Helper()
	def, err := PhiloxSIMD()
	if err != nil {
		t.Fatal(err)
	}
	defer SetPhiloxSIMD(def)
	for _, simd := range philoxSIMDNames {
		if err := SetPhiloxSIMD(simd); err != nil {
			t.Logf("%s: %v", simd, err)
			continue
		}
		f(simd)
	}
}

func testPhiloxZVectorEqualsScalar(t *testing.T, simd string) {
	const n = 4096 + 77
	for _, off := range []int64{0, 32, 1 << 20, 1<<37 - 64, 1<<37 - 32, 1<<37 - 96, 1 << 37, 1<<38 - 128, 1<<40 - 32} {
		for _, seed := range []uint64{0, 11, 0xfedcba9876543210} {
			vec := philoxZ(t, n, seed, 5, off, 1<<18)
			var ref []float32
			for p := int64(0); p < n; p += 31 {
				ref = append(ref, philoxZ(t, min(31, n-p), seed, 5, off+p, 32)...)
			}
			if !slices.Equal(vec, ref) {
				for i := range vec {
					if vec[i] != ref[i] {
						t.Fatalf("%s: offset %d seed %d: element %d: vector %v, scalar %v", simd, off, seed, i, vec[i], ref[i])
					}
				}
			}
		}
	}
}

// TestPhiloxPassesSameInEveryBuild: each CPU build of the passes (perturb,
// fused restore+update, update; float32 and float64 tensors, sizes that
// leave partial groups and short runs) leaves a parameter list in the same
// state bit for bit.
func TestPhiloxPassesSameInEveryBuild(t *testing.T) {
	run := func() [][]float64 {
		var ts []*Tensor
		for i, s := range [][]int64{{1000, 37}, {5}, {131}, {64, 3}, {4096}} {
			dt := Float32
			if i == 3 {
				dt = Float64
			}
			x, err := Randn(s, uint64(i+1), dt, CPU)
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
		if err := pl.SetZStream(ZPhilox); err != nil {
			t.Fatal(err)
		}
		for _, s := range []float64{1, -2} {
			if err := pl.Perturb(41, s, 1e-3); err != nil {
				t.Fatal(err)
			}
		}
		if err := pl.RestoreUpdate(41, 1e-3, 3.5, 1e-2, 0.1); err != nil {
			t.Fatal(err)
		}
		if err := pl.Update(42, -1.25, 1e-2, 0.01); err != nil {
			t.Fatal(err)
		}
		var out [][]float64
		for _, x := range ts {
			x64, err := x.To(Float64, CPU)
			if err != nil {
				t.Fatal(err)
			}
			v, err := x64.Float64s()
			x64.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	var ref [][]float64
	eachPhiloxSIMD(t, func(simd string) {
		got := run()
		if ref == nil {
			ref = got
			return
		}
		for i := range ref {
			if !slices.Equal(got[i], ref[i]) {
				t.Errorf("%s: tensor %d differs from the portable build's", simd, i)
			}
		}
	})
}

// BenchmarkPhiloxPass: one +a·z pass over a parameter list of MZ_BENCH_N
// float32 elements (default 32M, beyond the caches), in the CPU build
// MZ_BENCH_SIMD (default the widest) on MZ_BENCH_THREADS threads (default
// libtorch's count); wall and CPU nanoseconds per element are reported, e.g.
//
//	MZ_BENCH_THREADS=1 MZ_BENCH_SIMD=avx2 go test ./cgo/torch -run - -bench PhiloxPass -benchtime 20x
func BenchmarkPhiloxPass(b *testing.B) {
	n := int64(32 << 20)
	if s := os.Getenv("MZ_BENCH_N"); s != "" {
		n, _ = strconv.ParseInt(s, 10, 64)
	}
	x, err := Zeros([]int64{n}, Float32, CPU)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	pl, err := NewParamList([]*Tensor{x})
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Close()
	if err := pl.SetZStream(ZPhilox); err != nil {
		b.Fatal(err)
	}
	if s := os.Getenv("MZ_BENCH_SIMD"); s != "" {
		def, _ := PhiloxSIMD()
		defer SetPhiloxSIMD(def)
		if err := SetPhiloxSIMD(s); err != nil {
			b.Fatal(err)
		}
	}
	if s := os.Getenv("MZ_BENCH_THREADS"); s != "" {
		old, _ := NumThreads()
		defer SetNumThreads(old)
		th, _ := strconv.Atoi(s)
		if err := SetNumThreads(th); err != nil {
			b.Fatal(err)
		}
	}
	simd, _ := PhiloxSIMD()
	b.Logf("philox simd %s", simd)
	cpu := func() float64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	c0 := cpu()
	for i := 0; i < b.N; i++ {
		if err := pl.Perturb(uint64(i), 1, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
	// CPU time (all threads) per element: steadier than the wall clock on a
	// shared machine.
	b.ReportMetric((cpu()-c0)/float64(b.N)/float64(n), "cpu-ns/elem")
}
