// zo_extra.cpp: the stored-z passes of the reference's ZO variants
// (trainer.py norm_perturb_parameters and the trainer-optimizer gradient
// store) and float32 sums of squares as the reference reduces them.
#include "common.h"

namespace {

mz_params_s &list(mz_params h) {
  if (h == nullptr) throw std::invalid_argument("nil parameter list");
  return *h;
}

}  // namespace

extern "C" {

mz_err mz_params_scale_stored(mz_params z, const double *c, int divide, mz_params *out) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &zs = list(z);
    auto *o = new mz_params_s();
    try {
      for (size_t i = 0; i < zs.ts.size(); i++) {
        if (c[i] == 1.0) {
          o->ts.push_back(zs.ts[i]);  // unscaled: the same tensor
        } else if (divide) {
          o->ts.push_back(at::div(zs.ts[i], c[i]));  // torch: z / c, IEEE division by fl32(c)
        } else {
          o->ts.push_back(at::mul(zs.ts[i], c[i]));  // torch: z * c
        }
      }
    } catch (...) {
      delete o;
      throw;
    }
    *out = o;
  })
}

mz_err mz_params_accumulate_grad_stored(mz_params h, mz_params z, double g) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &p = list(h);
    auto &zs = list(z);
    if (p.ts.size() != zs.ts.size())
      throw std::invalid_argument("stored z has " + std::to_string(zs.ts.size()) + " tensors for " +
                                  std::to_string(p.ts.size()) + " parameters");
    for (size_t i = 0; i < p.ts.size(); i++) {
      auto gz = at::mul(zs.ts[i], g);  // projected_grad * z (rounded product)
      auto &grad = p.ts[i].mutable_grad();
      if (grad.defined()) {
        grad.add_(gz);
      } else {
        grad = gz;
      }
    }
  })
}

mz_err mz_params_sumsq(mz_params h, int of_grad, float *out, int *defined) {
  MZ_TRY({
    at::NoGradGuard ng;
    auto &p = list(h);
    for (size_t i = 0; i < p.ts.size(); i++) {
      const auto &t = of_grad ? p.ts[i].grad() : p.ts[i];
      defined[i] = t.defined() ? 1 : 0;
      out[i] = t.defined() ? at::sum(at::pow(t.detach(), 2)).to(at::kFloat).item<float>() : 0.0f;
    }
  })
}

}  // extern "C"
