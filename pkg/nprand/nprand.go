// Package nprand reproduces numpy's legacy random generator, the
// MT19937-backed np.random.RandomState of numpy 1.17 and later (checked
// against numpy 1.24), bit for bit.
//
// The reference code seeds numpy's global RandomState and draws from it in
// two places this project must match exactly: LM-BFF's k-shot split
// generator (np.random.seed(seed); np.random.shuffle(lines)) and MeZO's
// trainer (np.random.randint(1000000000) per step, after one
// np.random.permutation(n_train-1) per fetched example). The methods below
// follow numpy's legacy code paths (mt19937_seed, random_interval, the masked
// bounded-integer sampler, legacy random_sample), not numpy's Generator API.
package nprand

import (
	"encoding/binary"
	"errors"
)

const (
	n         = 624
	m         = 397
	matrixA   = 0x9908b0df
	upperMask = 0x80000000
	lowerMask = 0x7fffffff
)

// RandomState is numpy's legacy RandomState: an MT19937 generator with
// numpy's seeding and sampling algorithms. The zero value is not seeded;
// use New. A RandomState is not safe for concurrent use.
type RandomState struct {
	key [n]uint32
	pos int
}

// New returns a RandomState seeded as np.random.RandomState(seed), which is
// the same as np.random.seed(seed) on the global state.
func New(seed uint32) *RandomState {
	r := &RandomState{}
	r.Seed(seed)
	return r
}

// Seed resets the state as np.random.seed(seed) does for an integer seed
// (numpy's mt19937_seed, i.e. MT19937's init_genrand).
func (r *RandomState) Seed(seed uint32) {
	r.key[0] = seed
	for i := 1; i < n; i++ {
		seed = 1812433253*(seed^(seed>>30)) + uint32(i)
		r.key[i] = seed
	}
	r.pos = n
}

// generate refills the key with the next 624 words (mt19937_gen).
func (r *RandomState) generate() {
	k := &r.key
	var i int
	for i = 0; i < n-m; i++ {
		y := (k[i] & upperMask) | (k[i+1] & lowerMask)
		k[i] = k[i+m] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	}
	for ; i < n-1; i++ {
		y := (k[i] & upperMask) | (k[i+1] & lowerMask)
		k[i] = k[i+m-n] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	}
	y := (k[n-1] & upperMask) | (k[0] & lowerMask)
	k[n-1] = k[m-1] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	r.pos = 0
}

// Uint32 returns the next tempered 32-bit output of MT19937.
func (r *RandomState) Uint32() uint32 {
	if r.pos >= n {
		r.generate()
	}
	y := r.key[r.pos]
	r.pos++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Uint64 returns two 32-bit outputs joined, the first one high, as numpy's
// mt19937_next64.
func (r *RandomState) Uint64() uint64 {
	hi := uint64(r.Uint32())
	return hi<<32 | uint64(r.Uint32())
}

// mask returns the smallest all-ones bit mask >= v.
func mask(v uint64) uint64 {
	v |= v >> 1
	v |= v >> 2
	v |= v >> 4
	v |= v >> 8
	v |= v >> 16
	v |= v >> 32
	return v
}

// interval returns a uniform integer in [0, max] by masked rejection
// sampling, as numpy's random_interval (used by shuffle and permutation).
func (r *RandomState) interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mk := mask(max)
	if max <= 0xffffffff {
		m32, max32 := uint32(mk), uint32(max)
		for {
			if v := r.Uint32() & m32; v <= max32 {
				return uint64(v)
			}
		}
	}
	for {
		if v := r.Uint64() & mk; v <= max {
			return v
		}
	}
}

// Randint returns a uniform integer in [0, high), as the legacy
// np.random.randint(high) with the default int64 dtype (the masked
// bounded-integer sampler). high must be positive: for high <= 0, where
// numpy raises ValueError, Randint returns 0 and consumes no state.
func (r *RandomState) Randint(high int64) int64 {
	if high <= 0 {
		return 0
	}
	rng := uint64(high - 1)
	switch {
	case rng == 0:
		return 0
	case rng < 0xffffffff:
		mk := uint32(mask(rng))
		for {
			if v := r.Uint32() & mk; uint64(v) <= rng {
				return int64(v)
			}
		}
	case rng == 0xffffffff:
		return int64(r.Uint32())
	default:
		mk := mask(rng)
		for {
			if v := r.Uint64() & mk; v <= rng {
				return int64(v)
			}
		}
	}
}

// Shuffle permutes n items as np.random.shuffle does (Fisher-Yates from the
// end: for i = n-1 down to 1, swap i with random_interval(i)). swap is
// called for every i, also when j == i, exactly like numpy.
func (r *RandomState) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.interval(uint64(i))))
	}
}

// ShuffleInts shuffles s in place as np.random.shuffle does; it is Shuffle
// without the callback.
func (r *RandomState) ShuffleInts(s []int) {
	for i := len(s) - 1; i > 0; i-- {
		j := int(r.interval(uint64(i)))
		s[i], s[j] = s[j], s[i]
	}
}

// Permutation returns np.random.permutation(n): a shuffled 0..n-1. It
// returns an empty slice for n <= 0.
func (r *RandomState) Permutation(n int) []int {
	if n <= 0 {
		return []int{}
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.ShuffleInts(p)
	return p
}

// Random returns a float64 in [0, 1) as the legacy np.random.random_sample
// (53 bits from two 32-bit outputs).
func (r *RandomState) Random() float64 {
	a := r.Uint32() >> 5
	b := r.Uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) / 9007199254740992.0
}

// Uniform returns low + (high-low)*Random(), as the legacy
// np.random.uniform(low, high).
func (r *RandomState) Uniform(low, high float64) float64 {
	return low + (high-low)*r.Random()
}

// stateSize is the length of the MarshalBinary encoding.
const stateSize = 4 + 4*n + 4

var stateMagic = [4]byte{'M', 'T', '1', '9'}

// MarshalBinary encodes the full generator state (the 624-word key and the
// position), for checkpoints.
func (r *RandomState) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, stateSize)
	b = append(b, stateMagic[:]...)
	for _, k := range r.key {
		b = binary.LittleEndian.AppendUint32(b, k)
	}
	return binary.LittleEndian.AppendUint32(b, uint32(r.pos)), nil
}

// UnmarshalBinary restores a state written by MarshalBinary.
func (r *RandomState) UnmarshalBinary(b []byte) error {
	if len(b) != stateSize || [4]byte(b[:4]) != stateMagic {
		return errors.New("nprand: not a RandomState encoding")
	}
	pos := binary.LittleEndian.Uint32(b[stateSize-4:])
	if pos > n {
		return errors.New("nprand: state position out of range")
	}
	for i := range r.key {
		r.key[i] = binary.LittleEndian.Uint32(b[4+4*i:])
	}
	r.pos = int(pos)
	return nil
}

// State is a RandomState's complete state (numpy's get_state(): the MT19937
// key and position; this package draws no Gaussians, so has no cached one).
type State struct {
	Key []uint32 `json:"key"`
	Pos int      `json:"pos"`
}

// State returns a copy of the state.
func (r *RandomState) State() State {
	return State{Key: append([]uint32(nil), r.key[:]...), Pos: r.pos}
}

// SetState restores a state State returned.
func (r *RandomState) SetState(s State) error {
	if len(s.Key) != n || s.Pos < 0 || s.Pos > n {
		return errors.New("nprand: a state needs 624 key words and a position in [0, 624]")
	}
	copy(r.key[:], s.Key)
	r.pos = s.Pos
	return nil
}
