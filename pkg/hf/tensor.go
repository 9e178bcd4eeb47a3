package hf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Tensor is a raw host tensor: Data holds NumElements()·DType.Size() bytes,
// contiguous, row-major (C order), little-endian. A tensor of shape [] is a
// scalar with one element; a zero in Shape gives an empty Data.
//
// Every Tensor returned by this package owns its Data: no two tensors share
// a backing array, and nothing else refers to it, so a caller may hand Data
// to libtorch (copy it in, or pin it for the duration of a from_blob clone)
// and then drop the Tensor.
type Tensor struct {
	DType DType
	Shape []int64
	Data  []byte
}

// TensorInfo is a tensor's dtype and shape, known before its data is read.
type TensorInfo struct {
	DType DType
	Shape []int64
}

// Bytes returns the size of the tensor's data: numel·dtype size.
func (i TensorInfo) Bytes() int64 {
	n, err := byteSize(i.DType, i.Shape)
	if err != nil {
		return -1
	}
	return n
}

// NewTensor checks that data has the size shape and dtype call for and
// returns a Tensor using data (not a copy).
func NewTensor(dtype DType, shape []int64, data []byte) (*Tensor, error) {
	t := &Tensor{DType: dtype, Shape: shape, Data: data}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// FromFloat32s returns an F32 tensor holding a copy of v; len(v) must
// equal the number of elements of shape.
func FromFloat32s(shape []int64, v []float32) (*Tensor, error) {
	t, err := newFor(F32, shape, len(v))
	if err != nil {
		return nil, err
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
	}
	return t, nil
}

// FromFloat64s returns an F64 tensor holding a copy of v; len(v) must
// equal the number of elements of shape.
func FromFloat64s(shape []int64, v []float64) (*Tensor, error) {
	t, err := newFor(F64, shape, len(v))
	if err != nil {
		return nil, err
	}
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], math.Float64bits(x))
	}
	return t, nil
}

// FromInt64s returns an I64 tensor holding a copy of v; len(v) must equal
// the number of elements of shape.
func FromInt64s(shape []int64, v []int64) (*Tensor, error) {
	t, err := newFor(I64, shape, len(v))
	if err != nil {
		return nil, err
	}
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t, nil
}

func newFor(d DType, shape []int64, n int) (*Tensor, error) {
	ne, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	if ne != int64(n) {
		return nil, fmt.Errorf("hf: %d values do not fill shape %v", n, shape)
	}
	return &Tensor{DType: d, Shape: slices.Clone(shape), Data: make([]byte, n*d.Size())}, nil
}

// NumElements returns the product of Shape (1 for a scalar). It returns -1
// when a dimension is negative or the product overflows int64.
func (t *Tensor) NumElements() int64 {
	n, err := numElements(t.Shape)
	if err != nil {
		return -1
	}
	return n
}

// numElements multiplies shape out, refusing negative dimensions and
// products that overflow int64.
func numElements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n = int64(lo)
	}
	return n, nil
}

// byteSize returns numel·size for dtype d and shape, checking for overflow.
func byteSize(d DType, shape []int64) (int64, error) {
	if !d.Valid() {
		return 0, errDType(d)
	}
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/int64(d.Size()) {
		return 0, fmt.Errorf("shape %v has too many bytes", shape)
	}
	return n * int64(d.Size()), nil
}

// Validate checks the dtype is known and len(Data) = NumElements()·DType.Size().
func (t *Tensor) Validate() error {
	n, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return err
	}
	if int64(len(t.Data)) != n {
		return fmt.Errorf("%s%v needs %d bytes, data has %d", t.DType, t.Shape, n, len(t.Data))
	}
	return nil
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{DType: t.DType, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

// Equal reports whether t and u have the same dtype, shape and bytes
// (bitwise equality: NaNs with equal bits are equal, +0 and -0 are not).
func (t *Tensor) Equal(u *Tensor) bool {
	return t.DType == u.DType && slices.Equal(t.Shape, u.Shape) && bytes.Equal(t.Data, u.Data)
}

// String describes the dtype and shape, e.g. "F32[1000 32]".
func (t *Tensor) String() string { return fmt.Sprintf("%s%v", t.DType, t.Shape) }

// Float32s decodes the elements as float32 (a new slice, row-major). F32 is
// read as is; F16 and BF16 are widened exactly. Other dtypes are an error
// (F64 would lose precision; use Float64s).
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	d := t.Data
	switch t.DType {
	case F32:
		out := make([]float32, len(d)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
		return out, nil
	case F16:
		out := make([]float32, len(d)/2)
		for i := range out {
			out[i] = F16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
		return out, nil
	case BF16:
		out := make([]float32, len(d)/2)
		for i := range out {
			out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("hf: Float32s of a %s tensor (want F32, F16 or BF16)", t.DType)
}

// Float64s decodes the elements as float64 (a new slice, row-major). F64 is
// read as is; F32, F16 and BF16 are widened exactly. Integer dtypes are an
// error.
func (t *Tensor) Float64s() ([]float64, error) {
	if t.DType == F64 {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		out := make([]float64, len(t.Data)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return out, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("hf: Float64s of a %s tensor (want F64, F32, F16 or BF16)", t.DType)
	}
	out := make([]float64, len(f))
	for i, x := range f {
		out[i] = float64(x)
	}
	return out, nil
}

// Int64s decodes the elements as int64 (a new slice, row-major). I64, I32,
// I16, I8, U8, U16, U32 and BOOL (0/1) convert exactly; U64 values above
// MaxInt64 and float dtypes are an error.
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	d := t.Data
	n := len(d)
	if s := t.DType.Size(); s > 0 {
		n /= s
	}
	out := make([]int64, n)
	le := binary.LittleEndian
	switch t.DType {
	case I64:
		for i := range out {
			out[i] = int64(le.Uint64(d[8*i:]))
		}
	case U64:
		for i := range out {
			v := le.Uint64(d[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("hf: U64 element %d (%d) overflows int64", i, v)
			}
			out[i] = int64(v)
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(d[4*i:])))
		}
	case U32:
		for i := range out {
			out[i] = int64(le.Uint32(d[4*i:]))
		}
	case I16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(d[2*i:])))
		}
	case U16:
		for i := range out {
			out[i] = int64(le.Uint16(d[2*i:]))
		}
	case I8:
		for i := range out {
			out[i] = int64(int8(d[i]))
		}
	case U8, BOOL:
		for i := range out {
			out[i] = int64(d[i])
		}
	default:
		return nil, fmt.Errorf("hf: Int64s of a %s tensor (want an integer or BOOL dtype)", t.DType)
	}
	return out, nil
}
