// params.cpp: passes over a whole parameter list in one call: seeded
// perturbation and the MeZO update (the z stream regenerated, never stored),
// gradient zeroing, norms, snapshots.
#include <cmath>
#include <utility>

#include "common.h"

namespace mz {
at::Generator seeded_generator(const at::Device &dev, uint64_t seed);
// philox_list_pass: pass op (philox.h's Op) over the list with the philox
// z stream (philox.cpp); a, b, c, d are the pass's coefficients.
void philox_list(mz_params_s &p, int op, uint64_t seed, double a, double b, double c, double d);
void philox_accumulate_grad(mz_params_s &p, uint64_t seed, double g);
}

namespace {

// scratch returns a contiguous buffer with p's shape, device and dtype, a view
// of a buffer kept in pool (one per device and dtype, grown to the largest
// tensor seen), so a pass allocates nothing parameter-sized after the first.
at::Tensor scratch(std::vector<at::Tensor> &pool, const at::Tensor &p) {
  for (auto &b : pool) {
    if (b.device() == p.device() && b.scalar_type() == p.scalar_type()) {
      if (b.numel() < p.numel()) b = at::empty({p.numel()}, p.options().requires_grad(false));
      return b.narrow(0, 0, p.numel()).view(p.sizes());
    }
  }
  pool.push_back(at::empty({p.numel()}, p.options().requires_grad(false)));
  return pool.back().view(p.sizes());
}

// Stream draws z for the tensors of a list in order, one generator per device
// seeded once per pass: on CPU this is bit for bit the reference's
// torch.manual_seed(seed) followed by torch.normal(0, 1, size=p.shape) per
// tensor.
struct Stream {
  uint64_t seed;
  std::vector<std::pair<at::Device, at::Generator>> gens;

  at::Generator &gen(const at::Device &d) {
    for (auto &g : gens)
      if (g.first == d) return g.second;
    gens.emplace_back(d, mz::seeded_generator(d, seed));
    return gens.back().second;
  }

  // draw fills buf (shape of p) with z.
  void draw(at::Tensor &buf) { buf.normal_(0.0, 1.0, gen(buf.device())); }
};

mz_params_s &P(mz_params p) {
  if (p == nullptr) throw std::invalid_argument("nil parameter list");
  return *p;
}

// perturb_with adds (scale·z)·eps to t, rounding as the reference's
// p + scale * z * eps (two products, then the sum); z is overwritten.
void perturb_with(at::Tensor &t, at::Tensor &z, double scale, double eps) {
  if (scale != 1.0) z.mul_(scale);  // scale = 1 is exact and skipped
  z.mul_(eps);
  t.add_(z);
}

// update_with applies p − lr·(g·z + wd·p), rounded as the reference rounds
// it; z is overwritten, and wd ≠ 0 uses the second scratch buffer.
void update_with(mz_params_s &p, at::Tensor &t, at::Tensor &z, double g, double lr, double wd) {
  z.mul_(g);
  if (wd != 0.0) {
    auto d = scratch(p.scratch2, t);
    at::mul_out(d, t, wd);
    z.add_(d);
  }
  z.mul_(lr);
  t.sub_(z);
}

// chunks splits n elements into consecutive parts for chunked z: whole parts
// of c elements (c a multiple of 16), the last part taking the remainder,
// or merging with the part before it when the remainder is under 16. It
// returns {start, length} pairs.
std::vector<std::pair<int64_t, int64_t>> chunks(int64_t n, int64_t c) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (c <= 0 || n <= c) {
    out.emplace_back(0, n);
    return out;
  }
  for (int64_t i = 0; i < n; i += c) out.emplace_back(i, std::min(c, n - i));
  if (out.size() > 1 && out.back().second < 16) {
    auto last = out.back().second;
    out.pop_back();
    out.back().second += last;
  }
  return out;
}

// for_each_z draws z for every tensor of p in order (one stream per pass)
// into the scratch buffer and calls f(tensor, z), a part of a tensor at a time
// on the CPU, so the scratch buffer is p.chunk elements, not the largest
// tensor (a vocabulary embedding), and a pass stays in cache. The stream is
// the same: ATen's CPU normal_ on a contiguous tensor of ≥ 16 elements draws
// one uniform per element in order, transforms them 16 at a time, and
// redraws the last 16 when the size is not a multiple of 16; parts that are
// multiples of 16 (the last one ≥ 16) consume and transform exactly as the
// whole tensor does (TestChunkedZEqualsWhole checks it bit for bit). CUDA
// tensors, non-contiguous ones, p.chunk = 0 and whole = true are drawn whole
// (whole: f needs the tensor itself, e.g. its .grad). f receives matching
// views of the tensor and of z.
template <typename F>
void for_each_z(mz_params_s &p, uint64_t seed, bool whole, F f) {
  mz::sync_threads();
  at::NoGradGuard ng;
  Stream s{seed, {}};
  for (auto &t : p.ts) {
    if (whole || !t.device().is_cpu() || !t.is_contiguous() || p.chunk <= 0 || t.numel() <= p.chunk) {
      auto z = scratch(p.scratch, t);
      s.draw(z);
      f(t, z);
      continue;
    }
    auto flat = t.view({-1});
    for (auto &part : chunks(t.numel(), p.chunk)) {
      auto tp = flat.narrow(0, part.first, part.second);
      auto z = scratch(p.scratch, tp);
      s.draw(z);
      f(tp, z);
    }
  }
}

// for_each_stored copies the stored z_i of each tensor into the scratch
// buffer and calls f(tensor, copy).
template <typename F>
void for_each_stored(mz_params_s &p, mz_params_s &z, F f) {
  at::NoGradGuard ng;
  if (p.ts.size() != z.ts.size())
    throw std::invalid_argument("stored z has " + std::to_string(z.ts.size()) + " tensors for " +
                                std::to_string(p.ts.size()) + " parameters");
  for (size_t i = 0; i < p.ts.size(); i++) {
    auto buf = scratch(p.scratch, p.ts[i]);
    buf.copy_(z.ts[i]);
    f(p.ts[i], buf);
  }
}

}  // namespace

extern "C" {

mz_err mz_params_new(const mz_tensor *ts, int64_t n, mz_params *out) {
  MZ_TRY({
    auto *p = new mz_params_s();
    p->ts.reserve(static_cast<size_t>(n));
    try {
      for (int64_t i = 0; i < n; i++) p->ts.push_back(mz::T(ts[i]));
    } catch (...) {
      delete p;
      throw;
    }
    *out = p;
  })
}

mz_err mz_params_free(mz_params p) { MZ_TRY({ delete p; }) }

mz_err mz_params_set_chunk(mz_params h, int64_t n) {
  MZ_TRY({
    if (n < 0 || n % 16 != 0) throw std::invalid_argument("z chunk must be 0 (whole tensors) or a positive multiple of 16, got " + std::to_string(n));
    auto &p = P(h);
    p.chunk = n;
    p.scratch.clear();
    p.scratch2.clear();
  })
}

mz_err mz_params_release_scratch(mz_params h) {
  MZ_TRY({
    auto &p = P(h);
    p.scratch.clear();
    p.scratch2.clear();
  })
}

mz_err mz_params_get(mz_params h, int64_t i, mz_tensor *out) {
  MZ_TRY({
    auto &p = P(h);
    if (i < 0 || i >= static_cast<int64_t>(p.ts.size()))
      throw std::out_of_range("tensor " + std::to_string(i) + " of a list of " + std::to_string(p.ts.size()));
    *out = mz::wrap(p.ts[static_cast<size_t>(i)]);
  })
}

mz_err mz_params_perturb(mz_params h, uint64_t seed, double scale, double eps) {
  MZ_TRY({
    if (P(h).z == MZ_Z_PHILOX) { mz::philox_list(P(h), 1, seed, scale * eps, 0, 0, 0); return nullptr; }
    for_each_z(P(h), seed, false, [&](at::Tensor &t, at::Tensor &z) { perturb_with(t, z, scale, eps); });
  })
}

mz_err mz_params_update(mz_params h, uint64_t seed, double g, double lr, double wd) {
  MZ_TRY({
    auto &p = P(h);
    if (p.z == MZ_Z_PHILOX) { mz::philox_list(p, 2, seed, g, wd, lr, 0); return nullptr; }
    for_each_z(p, seed, false, [&](at::Tensor &t, at::Tensor &z) { update_with(p, t, z, g, lr, wd); });
  })
}

mz_err mz_params_restore_update(mz_params h, uint64_t seed, double eps, double g, double lr, double wd) {
  MZ_TRY({
    auto &p = P(h);
    if (p.z == MZ_Z_PHILOX) { mz::philox_list(p, 3, seed, g, wd, lr, eps); return nullptr; }
    for_each_z(p, seed, false, [&](at::Tensor &t, at::Tensor &z) {
      t.add_(z, eps);
      update_with(p, t, z, g, lr, wd);
    });
  })
}

mz_err mz_params_accumulate_grad(mz_params h, uint64_t seed, double g) {
  MZ_TRY({
    if (P(h).z == MZ_Z_PHILOX) { mz::philox_accumulate_grad(P(h), seed, g); return nullptr; }
    for_each_z(P(h), seed, true, [&](at::Tensor &t, at::Tensor &z) {
      z.mul_(g);
      auto &grad = t.mutable_grad();
      if (grad.defined()) {
        grad.add_(z);
      } else {
        grad = z.clone();
      }
    });
  })
}

mz_err mz_params_clip_grad_norm(mz_params h, double max_norm, double *total) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &p = P(h);
    // torch.nn.utils.clip_grad_norm_ of torch 1.13, call for call:
    //   total = torch.norm(torch.stack([torch.norm(g, 2) for g in grads]), 2)
    //   clip_coef = max_norm / (total + 1e-6)   # Python: reciprocal() * max_norm
    //   g.mul_(torch.clamp(clip_coef, max=1.0)) for every g
    std::vector<at::Tensor> norms;
    at::Device device(at::kCPU);
    for (auto &t : p.ts) {
      const auto &g = t.grad();
      if (!g.defined()) continue;
      if (norms.empty()) device = g.device();
      norms.push_back(at::norm(g.detach(), 2).to(device));
    }
    if (norms.empty()) {
      *total = 0;
      return nullptr;
    }
    auto total_norm = at::norm(at::stack(norms), 2);
    auto coef = (total_norm + 1e-6).reciprocal() * max_norm;
    auto clamped = at::clamp(coef, c10::nullopt, 1.0);
    for (auto &t : p.ts) {
      auto &g = t.mutable_grad();
      if (g.defined()) g.detach().mul_(clamped.to(g.device()));
    }
    *total = total_norm.item<double>();
  })
}

mz_err mz_params_draw_normal(mz_params h, mz_generator g, mz_params *out) {
  MZ_TRY({
    if (g == nullptr) throw std::invalid_argument("nil generator");
    at::NoGradGuard ng;
    auto *z = new mz_params_s();
    try {
      for (auto &t : P(h).ts) {
        auto zi = at::empty_like(t, t.options().requires_grad(false));
        zi.normal_(0.0, 1.0, g->g);
        z->ts.push_back(zi);
      }
    } catch (...) {
      delete z;
      throw;
    }
    *out = z;
  })
}

mz_err mz_params_perturb_stored(mz_params h, mz_params z, double scale, double eps) {
  MZ_TRY({ for_each_stored(P(h), P(z), [&](at::Tensor &t, at::Tensor &buf) { perturb_with(t, buf, scale, eps); }); })
}

mz_err mz_params_update_stored(mz_params h, mz_params z, double g, double lr, double wd) {
  MZ_TRY({
    auto &p = P(h);
    for_each_stored(p, P(z), [&](at::Tensor &t, at::Tensor &buf) { update_with(p, t, buf, g, lr, wd); });
  })
}

mz_err mz_params_zero_grad(mz_params h, int set_to_none) {
  MZ_TRY({
    for (auto &t : P(h).ts) {
      auto &g = t.mutable_grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        g.reset();
      } else {
        g.detach_();
        g.zero_();
      }
    }
  })
}

mz_err mz_params_norms(mz_params h, int of_grad, double *out) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &p = P(h);
    for (size_t i = 0; i < p.ts.size(); i++) {
      const auto &t = of_grad ? p.ts[i].grad() : p.ts[i];
      out[i] = t.defined() ? t.norm().item<double>() : 0.0;
    }
  })
}

mz_err mz_params_numel(mz_params h, int64_t *n) {
  MZ_TRY({
    int64_t total = 0;
    for (auto &t : P(h).ts) total += t.numel();
    *n = total;
  })
}

mz_err mz_params_snapshot(mz_params h, mz_params *out) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto *c = new mz_params_s();
    for (auto &t : P(h).ts) c->ts.push_back(t.detach().clone());
    *out = c;
  })
}

mz_err mz_params_snapshot_to(mz_params h, int dev_type, int64_t dev_index, mz_params *out) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto dev = mz::device(dev_type, dev_index);
    auto *c = new mz_params_s();
    try {
      for (auto &t : P(h).ts) c->ts.push_back(t.detach().to(dev, /*non_blocking=*/false, /*copy=*/true));
    } catch (...) {
      delete c;
      throw;
    }
    *out = c;
  })
}

mz_err mz_params_copy_from(mz_params dst, mz_params src) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &d = P(dst);
    auto &s = P(src);
    if (d.ts.size() != s.ts.size())
      throw std::invalid_argument("copy_from: lists of " + std::to_string(d.ts.size()) + " and " +
                                  std::to_string(s.ts.size()) + " tensors");
    for (size_t i = 0; i < d.ts.size(); i++) d.ts[i].copy_(s.ts[i]);
  })
}

mz_err mz_params_max_abs_diff(mz_params a, mz_params b, double *out) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &x = P(a);
    auto &y = P(b);
    if (x.ts.size() != y.ts.size())
      throw std::invalid_argument("max_abs_diff: lists of " + std::to_string(x.ts.size()) + " and " +
                                  std::to_string(y.ts.size()) + " tensors");
    double m = 0;
    for (size_t i = 0; i < x.ts.size(); i++) {
      if (x.ts[i].numel() == 0) continue;
      double d = (x.ts[i].to(at::kDouble) - y.ts[i].to(x.ts[i].device(), at::kDouble)).abs().max().item<double>();
      if (d > m || std::isnan(d)) m = d;
    }
    *out = m;
  })
}

}  // extern "C"
