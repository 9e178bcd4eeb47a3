package torch

/*
#include "mz.h"
*/
import "C"

import "unsafe"

// The ops below follow libtorch's semantics (broadcasting, type promotion)
// and shapes. Each returns a tensor owned by the scope, or nil after an error
// (see Scope).

// Add returns a + b.
func (s *Scope) Add(a, b *Tensor) *Tensor {
	return s.op("add", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_add(m, a.h, b.h, o) }, a, b)
}

// Sub returns a − b.
func (s *Scope) Sub(a, b *Tensor) *Tensor {
	return s.op("sub", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_sub(m, a.h, b.h, o) }, a, b)
}

// Mul returns a ⊙ b.
func (s *Scope) Mul(a, b *Tensor) *Tensor {
	return s.op("mul", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_mul(m, a.h, b.h, o) }, a, b)
}

// Div returns a / b.
func (s *Scope) Div(a, b *Tensor) *Tensor {
	return s.op("div", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_div(m, a.h, b.h, o) }, a, b)
}

// AddScalar returns a + v (an integral tensor plus a whole v stays integral).
func (s *Scope) AddScalar(a *Tensor, v float64) *Tensor {
	return s.op("add_scalar", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_add_scalar(m, a.h, C.double(v), o) }, a)
}

// MulScalar returns a·v (an integral tensor times a whole v stays integral).
func (s *Scope) MulScalar(a *Tensor, v float64) *Tensor {
	return s.op("mul_scalar", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_mul_scalar(m, a.h, C.double(v), o) }, a)
}

// DivScalar returns a / v (a true division, which rounds differently from
// multiplying by 1/v).
func (s *Scope) DivScalar(a *Tensor, v float64) *Tensor {
	return s.op("div_scalar", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_div_scalar(m, a.h, C.double(v), o) }, a)
}

// RSubScalar returns v − a.
func (s *Scope) RSubScalar(a *Tensor, v float64) *Tensor {
	return s.op("rsub_scalar", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_rsub_scalar(m, a.h, C.double(v), o) }, a)
}

// MatMul is torch.matmul (batched, broadcasting).
func (s *Scope) MatMul(a, b *Tensor) *Tensor {
	return s.op("matmul", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_matmul(m, a.h, b.h, o) }, a, b)
}

// Linear returns x·Wᵀ + b for x [..., in], W [out, in], b [out] (b may be nil).
func (s *Scope) Linear(x, w, b *Tensor) *Tensor {
	return s.op("linear", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_linear(m, x.h, w.h, optHandle(b), o) }, x, w)
}

// Embedding looks up rows of weight [V, H] for int64 ids [...] → [..., H].
// Row paddingIdx (when ≥ 0) receives no gradient, as with
// nn.Embedding(padding_idx=…); pass -1 for none.
func (s *Scope) Embedding(weight, ids *Tensor, paddingIdx int64) *Tensor {
	return s.op("embedding", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_embedding(m, weight.h, ids.h, C.int64_t(paddingIdx), o)
	}, weight, ids)
}

// LayerNorm normalises over the last dimension, then scales by w and shifts
// by b (either may be nil).
func (s *Scope) LayerNorm(x, w, b *Tensor, eps float64) *Tensor {
	return s.op("layer_norm", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_layer_norm(m, x.h, optHandle(w), optHandle(b), C.double(eps), o)
	}, x)
}

// GELU is the exact (erf) GELU.
func (s *Scope) GELU(x *Tensor) *Tensor {
	return s.op("gelu", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_gelu(m, x.h, 0, o) }, x)
}

// GELUTanh is the tanh approximation of GELU (HF "gelu_new").
func (s *Scope) GELUTanh(x *Tensor) *Tensor {
	return s.op("gelu_tanh", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_gelu(m, x.h, 1, o) }, x)
}

// ReLU returns max(x, 0).
func (s *Scope) ReLU(x *Tensor) *Tensor {
	return s.op("relu", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_relu(m, x.h, o) }, x)
}

// Tanh returns tanh(x).
func (s *Scope) Tanh(x *Tensor) *Tensor {
	return s.op("tanh", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_tanh(m, x.h, o) }, x)
}

// Softmax over dim.
func (s *Scope) Softmax(x *Tensor, dim int64) *Tensor {
	return s.op("softmax", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_softmax(m, x.h, C.int64_t(dim), o) }, x)
}

// LogSoftmax over dim.
func (s *Scope) LogSoftmax(x *Tensor, dim int64) *Tensor {
	return s.op("log_softmax", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_log_softmax(m, x.h, C.int64_t(dim), o) }, x)
}

// Dropout zeroes elements with probability p and scales the rest by
// 1/(1−p), with a mask drawn from a generator seeded by seed (reproducible).
func (s *Scope) Dropout(x *Tensor, p float64, seed uint64) *Tensor {
	return s.op("dropout", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_dropout(m, x.h, C.double(p), C.uint64_t(seed), o)
	}, x)
}

// Reshape to shape (one size may be -1).
func (s *Scope) Reshape(x *Tensor, shape ...int64) *Tensor {
	return s.op("reshape", func(m C.int, o *C.mz_tensor) C.mz_err {
		p, r := int64s(shape)
		return C.mz_reshape(m, x.h, p, r, o)
	}, x)
}

// Permute reorders dimensions.
func (s *Scope) Permute(x *Tensor, dims ...int64) *Tensor {
	return s.op("permute", func(m C.int, o *C.mz_tensor) C.mz_err {
		p, r := int64s(dims)
		return C.mz_permute(m, x.h, p, r, o)
	}, x)
}

// Transpose swaps two dimensions.
func (s *Scope) Transpose(x *Tensor, d0, d1 int64) *Tensor {
	return s.op("transpose", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_transpose(m, x.h, C.int64_t(d0), C.int64_t(d1), o)
	}, x)
}

// Contiguous returns x laid out row-major.
func (s *Scope) Contiguous(x *Tensor) *Tensor {
	return s.op("contiguous", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_contiguous(m, x.h, o) }, x)
}

// IndexSelect picks entries idx (int64 [n]) along dim.
func (s *Scope) IndexSelect(x *Tensor, dim int64, idx *Tensor) *Tensor {
	return s.op("index_select", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_index_select(m, x.h, C.int64_t(dim), idx.h, o)
	}, x, idx)
}

// Narrow returns x[..., start:start+n, ...] along dim (a view).
func (s *Scope) Narrow(x *Tensor, dim, start, n int64) *Tensor {
	return s.op("narrow", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_narrow(m, x.h, C.int64_t(dim), C.int64_t(start), C.int64_t(n), o)
	}, x)
}

// Select returns x[..., i, ...] along dim, dropping that dimension (a view).
func (s *Scope) Select(x *Tensor, dim, i int64) *Tensor {
	return s.op("select", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_select(m, x.h, C.int64_t(dim), C.int64_t(i), o)
	}, x)
}

// Cat concatenates xs along dim.
func (s *Scope) Cat(dim int64, xs ...*Tensor) *Tensor {
	return s.op("cat", func(m C.int, o *C.mz_tensor) C.mz_err {
		hs := make([]C.mz_tensor, len(xs))
		for i, x := range xs {
			hs[i] = x.h
		}
		var p *C.mz_tensor
		if len(hs) > 0 {
			p = (*C.mz_tensor)(unsafe.Pointer(&hs[0]))
		}
		return C.mz_cat(m, p, C.int64_t(len(hs)), C.int64_t(dim), o)
	}, xs...)
}

// Cumsum is the cumulative sum along dim.
func (s *Scope) Cumsum(x *Tensor, dim int64) *Tensor {
	return s.op("cumsum", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_cumsum(m, x.h, C.int64_t(dim), o) }, x)
}

// NeScalar returns the boolean tensor x ≠ v.
func (s *Scope) NeScalar(x *Tensor, v float64) *Tensor {
	return s.op("ne_scalar", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_ne_scalar(m, x.h, C.double(v), o) }, x)
}

// Eq returns the boolean tensor a == b.
func (s *Scope) Eq(a, b *Tensor) *Tensor {
	return s.op("eq", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_eq(m, a.h, b.h, o) }, a, b)
}

// Argmax along dim (int64 indices).
func (s *Scope) Argmax(x *Tensor, dim int64) *Tensor {
	return s.op("argmax", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_argmax(m, x.h, C.int64_t(dim), o) }, x)
}

// Sum of all elements (0-dim).
func (s *Scope) Sum(x *Tensor) *Tensor {
	return s.op("sum", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_sum(m, x.h, 0, 1, o) }, x)
}

// SumDim sums over dim.
func (s *Scope) SumDim(x *Tensor, dim int64) *Tensor {
	return s.op("sum", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_sum(m, x.h, C.int64_t(dim), 0, o) }, x)
}

// Mean of all elements (0-dim).
func (s *Scope) Mean(x *Tensor) *Tensor {
	return s.op("mean", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_mean(m, x.h, 0, 1, o) }, x)
}

// MeanDim averages over dim.
func (s *Scope) MeanDim(x *Tensor, dim int64) *Tensor {
	return s.op("mean", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_mean(m, x.h, C.int64_t(dim), 0, o) }, x)
}

// CrossEntropy is the mean cross-entropy of logits [B, C] against int64
// labels [B] (torch.nn.functional.cross_entropy).
func (s *Scope) CrossEntropy(logits, labels *Tensor) *Tensor {
	return s.op("cross_entropy", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_cross_entropy(m, logits.h, labels.h, o)
	}, logits, labels)
}

// MSELoss is the mean squared error.
func (s *Scope) MSELoss(a, b *Tensor) *Tensor {
	return s.op("mse_loss", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_mse_loss(m, a.h, b.h, o) }, a, b)
}

// OneHot encodes int64 labels [B] as int64 [B, classes].
func (s *Scope) OneHot(labels *Tensor, classes int64) *Tensor {
	return s.op("one_hot", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_one_hot(m, labels.h, C.int64_t(classes), o)
	}, labels)
}

// AttentionMaskBias turns a padding mask [B, L] (1 = token, 0 = pad) into
// the additive bias [B, 1, 1, L] = (1 − mask)·finfo(dtype).min, as Hugging
// Face's get_extended_attention_mask does.
func (s *Scope) AttentionMaskBias(mask *Tensor, dtype DType) *Tensor {
	return s.op("attention_mask_bias", func(m C.int, o *C.mz_tensor) C.mz_err {
		return C.mz_attention_mask_bias(m, mask.h, C.int(dtype), o)
	}, mask)
}

// GatherRows returns x[arange(B), pos] for x [B, L, H] and pos [B] → [B, H].
func (s *Scope) GatherRows(x, pos *Tensor) *Tensor {
	return s.op("gather_rows", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_gather_rows(m, x.h, pos.h, o) }, x, pos)
}

// To converts x to dtype on dev within the scope (differentiable).
func (s *Scope) To(x *Tensor, dtype DType, dev Device) *Tensor {
	dt, di := dev.c()
	return s.op("to", func(m C.int, o *C.mz_tensor) C.mz_err { return C.mz_to(x.h, C.int(dtype), dt, di, m, o) }, x)
}

// FromInt64s makes an int64 tensor owned by the scope.
func (s *Scope) FromInt64s(data []int64, shape []int64, dev Device) *Tensor {
	if s.err != nil {
		return nil
	}
	t, err := FromInt64s(data, shape, dev)
	if err != nil {
		s.Fail(err)
		return nil
	}
	return s.Track(t)
}

// FromFloat32s makes a float32 tensor owned by the scope.
func (s *Scope) FromFloat32s(data []float32, shape []int64, dev Device) *Tensor {
	if s.err != nil {
		return nil
	}
	t, err := FromFloat32s(data, shape, dev)
	if err != nil {
		s.Fail(err)
		return nil
	}
	return s.Track(t)
}
