package hf

import (
	"fmt"
	"math"
)

// DType names an element type the way safetensors headers spell it.
type DType string

// The element types this package reads and writes. The string values are the
// safetensors header spellings; ReadTorchBin maps torch storages onto them
// (FloatStorage→F32, DoubleStorage→F64, HalfStorage→F16, BFloat16Storage→BF16,
// LongStorage→I64, IntStorage→I32, ShortStorage→I16, CharStorage→I8,
// ByteStorage→U8, BoolStorage→BOOL).
const (
	BOOL DType = "BOOL"
	U8   DType = "U8"
	I8   DType = "I8"
	I16  DType = "I16"
	U16  DType = "U16"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I32  DType = "I32"
	U32  DType = "U32"
	F32  DType = "F32"
	F64  DType = "F64"
	I64  DType = "I64"
	U64  DType = "U64"
)

// dtypeInfo holds the element size and the rank of the dtype in the official
// safetensors Dtype enum, whose order the official writer sorts by
// (descending) before sorting by name.
var dtypeInfo = map[DType]struct{ size, rank int }{
	BOOL: {1, 0},
	U8:   {1, 1},
	I8:   {1, 2},
	I16:  {2, 5},
	U16:  {2, 6},
	F16:  {2, 7},
	BF16: {2, 8},
	I32:  {4, 9},
	U32:  {4, 10},
	F32:  {4, 11},
	F64:  {8, 12},
	I64:  {8, 13},
	U64:  {8, 14},
}

// Size returns the element size in bytes, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeInfo[d].size }

// Valid reports whether d is one of the dtypes this package knows.
func (d DType) Valid() bool { _, ok := dtypeInfo[d]; return ok }

func (d DType) rank() int { return dtypeInfo[d].rank }

// F16ToFloat32 converts IEEE 754 half-precision bits to float32, exactly.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN, keep the payload
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	default: // subnormal half: normalise
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
}

// BF16ToFloat32 converts bfloat16 bits to float32, exactly.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToF16 converts a float32 to IEEE 754 half-precision bits, rounding to
// nearest even as torch does; NaN stays NaN.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, giving inf: correct
	}
	return sign | uint16(half)
}

// Float32ToBF16 converts a float32 to bfloat16 bits, rounding to nearest even
// as torch does; NaN stays NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

func errDType(d DType) error {
	if d == "" {
		return fmt.Errorf("empty dtype")
	}
	return fmt.Errorf("unknown dtype %q", string(d))
}
