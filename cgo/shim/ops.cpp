// ops.cpp: the tensor ops the Go models are written with. Each runs under the
// grad mode passed in and returns a new handle.
#include <cmath>
#include <limits>

#include "common.h"

using mz::T;

namespace mz {
at::Generator seeded_generator(const at::Device &dev, uint64_t seed);
}

// MZ_OP defines an op: name, extra parameters, and the expression computing
// the result from them.
namespace {
// scalar_for gives an integral tensor an integral scalar when s is a whole
// number, so int64 + 1 stays int64 as in Python; floats stay doubles.
at::Scalar scalar_for(const at::Tensor &t, double s) {
  if (at::isIntegralType(t.scalar_type(), /*includeBool=*/false) && std::floor(s) == s &&
      std::abs(s) < 9.007199254740992e15)
    return at::Scalar(static_cast<int64_t>(s));
  return at::Scalar(s);
}
}  // namespace

#define MZ_OP(name, params, expr)            \
  mz_err name params {                       \
    MZ_TRY({                                 \
      mz::ModeGuard guard(mode);             \
      *out = mz::wrap(expr);                 \
    })                                       \
  }

extern "C" {

MZ_OP(mz_add, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), T(a) + T(b))
MZ_OP(mz_sub, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), T(a) - T(b))
MZ_OP(mz_mul, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), T(a) * T(b))
MZ_OP(mz_div, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), T(a) / T(b))
MZ_OP(mz_add_scalar, (int mode, mz_tensor a, double s, mz_tensor *out), T(a) + scalar_for(T(a), s))
MZ_OP(mz_mul_scalar, (int mode, mz_tensor a, double s, mz_tensor *out), T(a) * scalar_for(T(a), s))
MZ_OP(mz_div_scalar, (int mode, mz_tensor a, double s, mz_tensor *out), T(a) / s)
MZ_OP(mz_rsub_scalar, (int mode, mz_tensor a, double s, mz_tensor *out), at::rsub(T(a), scalar_for(T(a), s)))
MZ_OP(mz_matmul, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), at::matmul(T(a), T(b)))
MZ_OP(mz_linear, (int mode, mz_tensor x, mz_tensor w, mz_tensor b, mz_tensor *out),
      b ? at::linear(T(x), T(w), T(b)) : at::linear(T(x), T(w)))
MZ_OP(mz_embedding, (int mode, mz_tensor weight, mz_tensor ids, int64_t padding_idx, mz_tensor *out),
      at::embedding(T(weight), T(ids), padding_idx))
MZ_OP(mz_layer_norm, (int mode, mz_tensor x, mz_tensor w, mz_tensor b, double eps, mz_tensor *out),
      at::layer_norm(T(x), {T(x).size(-1)}, w ? c10::optional<at::Tensor>(T(w)) : c10::nullopt,
                     b ? c10::optional<at::Tensor>(T(b)) : c10::nullopt, eps))
MZ_OP(mz_gelu, (int mode, mz_tensor x, int tanh_approx, mz_tensor *out),
      at::gelu(T(x), tanh_approx ? "tanh" : "none"))
MZ_OP(mz_relu, (int mode, mz_tensor x, mz_tensor *out), at::relu(T(x)))
MZ_OP(mz_tanh, (int mode, mz_tensor x, mz_tensor *out), at::tanh(T(x)))
MZ_OP(mz_softmax, (int mode, mz_tensor x, int64_t dim, mz_tensor *out), at::softmax(T(x), dim))
MZ_OP(mz_log_softmax, (int mode, mz_tensor x, int64_t dim, mz_tensor *out), at::log_softmax(T(x), dim))
MZ_OP(mz_reshape, (int mode, mz_tensor x, const int64_t *shape, int64_t rank, mz_tensor *out),
      at::reshape(T(x), mz::shape(shape, rank)))
MZ_OP(mz_permute, (int mode, mz_tensor x, const int64_t *dims, int64_t rank, mz_tensor *out),
      T(x).permute(mz::shape(dims, rank)))
MZ_OP(mz_transpose, (int mode, mz_tensor x, int64_t d0, int64_t d1, mz_tensor *out),
      T(x).transpose(d0, d1))
MZ_OP(mz_contiguous, (int mode, mz_tensor x, mz_tensor *out), T(x).contiguous())
MZ_OP(mz_index_select, (int mode, mz_tensor x, int64_t dim, mz_tensor idx, mz_tensor *out),
      at::index_select(T(x), dim, T(idx)))
MZ_OP(mz_narrow, (int mode, mz_tensor x, int64_t dim, int64_t start, int64_t len, mz_tensor *out),
      T(x).narrow(dim, start, len))
MZ_OP(mz_select, (int mode, mz_tensor x, int64_t dim, int64_t index, mz_tensor *out),
      T(x).select(dim, index))
MZ_OP(mz_cumsum, (int mode, mz_tensor x, int64_t dim, mz_tensor *out), at::cumsum(T(x), dim))
MZ_OP(mz_ne_scalar, (int mode, mz_tensor x, double s, mz_tensor *out), at::ne(T(x), s))
MZ_OP(mz_eq, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), at::eq(T(a), T(b)))
MZ_OP(mz_argmax, (int mode, mz_tensor x, int64_t dim, mz_tensor *out), at::argmax(T(x), dim))
MZ_OP(mz_sum, (int mode, mz_tensor x, int64_t dim, int all, mz_tensor *out),
      all ? at::sum(T(x)) : at::sum(T(x), {dim}))
MZ_OP(mz_mean, (int mode, mz_tensor x, int64_t dim, int all, mz_tensor *out),
      all ? at::mean(T(x)) : at::mean(T(x), {dim}))
MZ_OP(mz_cross_entropy, (int mode, mz_tensor logits, mz_tensor labels, mz_tensor *out),
      at::cross_entropy_loss(T(logits), T(labels)))
MZ_OP(mz_mse_loss, (int mode, mz_tensor a, mz_tensor b, mz_tensor *out), at::mse_loss(T(a), T(b)))
MZ_OP(mz_one_hot, (int mode, mz_tensor labels, int64_t classes, mz_tensor *out),
      at::one_hot(T(labels), classes))

namespace {
// dropout_with is ATen's CPU _dropout (1.13 and 2.x), step for step, so a
// generator in the reference's state gives the reference's mask and values.
at::Tensor dropout_with(const at::Tensor &x, double p, at::Generator gen) {
  if (p < 0 || p >= 1) throw std::invalid_argument("dropout probability must be in [0, 1)");
  if (p == 0) return x.clone();  // torch returns the input and draws nothing
  auto noise = at::empty_like(x);
  noise.bernoulli_(1 - p, gen);
  noise.div_(1 - p);
  return x * noise;
}
}  // namespace

mz_err mz_dropout(int mode, mz_tensor x, double p, uint64_t seed, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard guard(mode);
    const auto &t = T(x);
    *out = mz::wrap(dropout_with(t, p, mz::seeded_generator(t.device(), seed)));
  })
}

mz_err mz_dropout_gen(int mode, mz_tensor x, double p, mz_generator g, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard guard(mode);
    if (g == nullptr) throw std::invalid_argument("nil generator");
    *out = mz::wrap(dropout_with(T(x), p, g->g));
  })
}

mz_err mz_cat(int mode, const mz_tensor *xs, int64_t n, int64_t dim, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard guard(mode);
    std::vector<at::Tensor> v;
    v.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) v.push_back(T(xs[i]));
    *out = mz::wrap(at::cat(v, dim));
  })
}

mz_err mz_attention_mask_bias(int mode, mz_tensor mask, int dtype, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard guard(mode);
    auto dt = mz::dtype(dtype);
    const auto &m = T(mask);
    if (m.dim() != 2) throw std::invalid_argument("attention mask must be [B, L]");
    double lowest = 0;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dt, "mask_min",
                                    [&] { lowest = static_cast<double>(std::numeric_limits<scalar_t>::lowest()); });
    auto ext = m.unsqueeze(1).unsqueeze(2).to(dt);
    *out = mz::wrap(at::rsub(ext, 1.0) * lowest);
  })
}

mz_err mz_gather_rows(int mode, mz_tensor x, mz_tensor pos, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard guard(mode);
    const auto &h = T(x);
    const auto &p = T(pos);
    if (h.dim() != 3) throw std::invalid_argument("gather_rows: x must be [B, L, H]");
    if (p.dim() != 1 || p.size(0) != h.size(0))
      throw std::invalid_argument("gather_rows: positions must be [B]");
    auto rows = at::arange(h.size(0), at::TensorOptions().dtype(at::kLong).device(h.device()));
    *out = mz::wrap(h.index({rows, p.to(h.device(), at::kLong)}));
  })
}

mz_err mz_max_abs_diff(mz_tensor a, mz_tensor b, double *out) {
  MZ_TRY({
    at::NoGradGuard g;
    *out = (T(a).to(at::kDouble) - T(b).to(at::kDouble)).abs().max().item<double>();
  })
}

}  // extern "C"
