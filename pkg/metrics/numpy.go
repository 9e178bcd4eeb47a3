package metrics

import "math"

// This file holds the summation orders of the libraries the reference calls,
// so that sums of rounded values come out with numpy's and BLAS's bits.
// Explicit float64/float32 conversions around products stop the compiler
// from fusing a multiply and an add (the Go spec allows fusion otherwise).

// npBufSize is numpy's NPY_BUFSIZE: a reduction's inner loop sees at most
// this many elements at a time, and the partial sums are added in order.
const npBufSize = 8192

// pairwiseBlock is numpy's PW_BLOCKSIZE.
const pairwiseBlock = 128

// pairwiseSum is numpy's <TYPE>_pairwise_sum: eight interleaved
// accumulators for blocks up to 128 elements, recursive halving above, with
// the accumulator in the element type.
func pairwiseSum[F float32 | float64](a []F) F {
	n := len(a)
	switch {
	case n < 8:
		var res F
		for _, v := range a {
			res += v
		}
		return res
	case n <= pairwiseBlock:
		var r [8]F
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// npSum is np.add.reduce over a contiguous 1-D array: pairwise within each
// buffer-sized chunk, chunks added in order onto the identity 0.
func npSum[F float32 | float64](a []F) F {
	var total F
	for len(a) > 0 {
		k := min(len(a), npBufSize)
		total += pairwiseSum(a[:k])
		a = a[k:]
	}
	return total
}

// npMean is ndarray.mean() of a 1-D float64 array (or of any array with
// dtype=float64): npSum / n.
func npMean(a []float64) float64 { return npSum(a) / float64(len(a)) }

// npMeanFloat32 is ndarray.mean() of a 1-D float32 array: the float32 sum,
// divided by n in float64 and rounded back to float32 (numpy 1.24 divides
// the float32 scalar by the Python int in float64).
func npMeanFloat32(a []float32) float32 {
	return float32(float64(npSum(a)) / float64(len(a)))
}

// ddot is netlib's reference DDOT for unit strides. Its unrolled loop,
// dtemp + x(i)*y(i) + ... + x(i+4)*y(i+4), associates left to right, so the
// order is a plain running sum of the products.
func ddot(x, y []float64) float64 {
	var t float64
	for i, v := range x {
		t += float64(v * y[i])
	}
	return t
}

// Blue's constants of netlib's dnrm2.f90 (LAPACK 3.10 and later) for IEEE
// double: tsml = 2^-511, tbig = 2^486, ssml = 2^537, sbig = 2^-538.
var (
	nrmTsml = math.Ldexp(1, -511)
	nrmTbig = math.Ldexp(1, 486)
	nrmSsml = math.Ldexp(1, 537)
	nrmSbig = math.Ldexp(1, -538)
)

// dnrm2 is netlib's DNRM2 (Blue's algorithm, three accumulators). For
// mid-range values it is sqrt of the sequential sum of squares.
func dnrm2(x []float64) float64 {
	notbig := true
	var asml, amed, abig float64
	for _, v := range x {
		ax := math.Abs(v)
		switch {
		case ax > nrmTbig:
			s := float64(ax * nrmSbig)
			abig += float64(s * s)
			notbig = false
		case ax < nrmTsml:
			if notbig {
				s := float64(ax * nrmSsml)
				asml += float64(s * s)
			}
		default:
			amed += float64(ax * ax)
		}
	}
	scl, sumsq := 1.0, amed
	switch {
	case abig > 0:
		if amed > 0 || amed > math.MaxFloat64 || amed != amed {
			abig += float64(float64(amed*nrmSbig) * nrmSbig)
		}
		scl, sumsq = 1/nrmSbig, abig
	case asml > 0:
		if amed > 0 || amed > math.MaxFloat64 || amed != amed {
			amed = math.Sqrt(amed)
			asml = math.Sqrt(asml) / nrmSsml
			ymin, ymax := asml, amed
			if asml > amed {
				ymin, ymax = amed, asml
			}
			q := ymin / ymax
			scl, sumsq = 1, float64(ymax*ymax)*(1+float64(q*q))
		} else {
			scl, sumsq = 1/nrmSsml, asml
		}
	}
	return scl * math.Sqrt(sumsq)
}
