// optim.cpp: the reference's optimizers as whole-list passes. Each step uses
// the same ATen calls, in the same order, as torch.optim.SGD (1.13, no
// momentum) and transformers.AdamW (4.28), so it rounds as they do.
#include <cmath>

#include "common.h"

struct mz_optim_s {
  enum Kind { SGD, ADAMW_HF } kind;
  std::vector<at::Tensor> ts;
  std::vector<double> wd;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool correct_bias = true;
  // AdamW state, per tensor, created at its first step.
  std::vector<int64_t> steps;
  std::vector<at::Tensor> exp_avg, exp_avg_sq;
};

namespace {

mz_optim_s *make(mz_params params, const double *wd, mz_optim_s::Kind kind) {
  if (params == nullptr) throw std::invalid_argument("nil parameter list");
  auto *o = new mz_optim_s();
  o->kind = kind;
  o->ts = params->ts;
  o->wd.assign(wd, wd + o->ts.size());
  o->steps.assign(o->ts.size(), 0);
  o->exp_avg.resize(o->ts.size());
  o->exp_avg_sq.resize(o->ts.size());
  return o;
}

void sgd_step(mz_optim_s &o, double lr) {
  for (size_t i = 0; i < o.ts.size(); i++) {
    auto &p = o.ts[i];
    const auto &g = p.grad();
    if (!g.defined()) continue;
    auto d = g;
    if (o.wd[i] != 0) d = d.add(p, o.wd[i]);
    p.add_(d, -lr);
  }
}

void adamw_hf_step(mz_optim_s &o, double lr) {
  for (size_t i = 0; i < o.ts.size(); i++) {
    auto &p = o.ts[i];
    const auto &g = p.grad();
    if (!g.defined()) continue;
    if (!o.exp_avg[i].defined()) {
      o.exp_avg[i] = at::zeros_like(p);
      o.exp_avg_sq[i] = at::zeros_like(p);
    }
    auto &m = o.exp_avg[i];
    auto &v = o.exp_avg_sq[i];
    int64_t step = ++o.steps[i];
    m.mul_(o.beta1).add_(g, 1.0 - o.beta1);
    v.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
    auto denom = v.sqrt().add_(o.eps);
    double step_size = lr;
    if (o.correct_bias) {
      double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
      double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
      step_size = step_size * std::sqrt(bc2) / bc1;
    }
    p.addcdiv_(m, denom, -step_size);
    if (o.wd[i] > 0.0) p.add_(p, -lr * o.wd[i]);
  }
}

}  // namespace

extern "C" {

mz_err mz_optim_sgd(mz_params params, const double *wd, mz_optim *out) {
  MZ_TRY({ *out = make(params, wd, mz_optim_s::SGD); })
}

mz_err mz_optim_adamw_hf(mz_params params, const double *wd, double beta1, double beta2, double eps,
                         int correct_bias, mz_optim *out) {
  MZ_TRY({
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      throw std::invalid_argument("AdamW betas must be in [0, 1)");
    if (!(eps >= 0)) throw std::invalid_argument("AdamW eps must be ≥ 0");
    auto *o = make(params, wd, mz_optim_s::ADAMW_HF);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->correct_bias = correct_bias != 0;
    *out = o;
  })
}

mz_err mz_optim_step(mz_optim o, double lr) {
  MZ_TRY({
    if (o == nullptr) throw std::invalid_argument("nil optimizer");
    mz::sync_threads();
    at::NoGradGuard ng;
    if (o->kind == mz_optim_s::SGD) {
      sgd_step(*o, lr);
    } else {
      adamw_hf_step(*o, lr);
    }
  })
}

mz_err mz_optim_free(mz_optim o) { MZ_TRY({ delete o; }) }

mz_err mz_optim_state(mz_optim o, int64_t *steps, mz_params *exp_avg, mz_params *exp_avg_sq) {
  MZ_TRY({
    if (o == nullptr) throw std::invalid_argument("nil optimizer");
    at::NoGradGuard ng;
    auto *m = new mz_params_s();
    auto *v = new mz_params_s();
    try {
      for (size_t i = 0; i < o->ts.size(); i++) {
        steps[i] = o->steps[i];
        // A tensor not stepped yet has no moments: zeros, as its first step makes.
        m->ts.push_back(o->exp_avg[i].defined() ? o->exp_avg[i].clone() : at::zeros_like(o->ts[i]));
        v->ts.push_back(o->exp_avg_sq[i].defined() ? o->exp_avg_sq[i].clone() : at::zeros_like(o->ts[i]));
      }
    } catch (...) {
      delete m;
      delete v;
      throw;
    }
    *exp_avg = m;
    *exp_avg_sq = v;
  })
}

mz_err mz_optim_set_state(mz_optim o, const int64_t *steps, mz_params exp_avg, mz_params exp_avg_sq) {
  MZ_TRY({
    if (o == nullptr || exp_avg == nullptr || exp_avg_sq == nullptr) throw std::invalid_argument("nil optimizer or state");
    at::NoGradGuard ng;
    size_t n = o->ts.size();
    if (exp_avg->ts.size() != n || exp_avg_sq->ts.size() != n)
      throw std::invalid_argument("optimizer state of " + std::to_string(exp_avg->ts.size()) + " tensors for " +
                                  std::to_string(n) + " parameters");
    for (size_t i = 0; i < n; i++) {
      if (!exp_avg->ts[i].sizes().equals(o->ts[i].sizes()) || !exp_avg_sq->ts[i].sizes().equals(o->ts[i].sizes()))
        throw std::invalid_argument("optimizer state tensor " + std::to_string(i) + " has the wrong shape");
    }
    for (size_t i = 0; i < n; i++) {
      o->steps[i] = steps[i];
      if (steps[i] == 0) {
        o->exp_avg[i] = at::Tensor();
        o->exp_avg_sq[i] = at::Tensor();
        continue;
      }
      o->exp_avg[i] = exp_avg->ts[i].to(o->ts[i].options(), /*non_blocking=*/false, /*copy=*/true);
      o->exp_avg_sq[i] = exp_avg_sq->ts[i].to(o->ts[i].options(), false, true);
    }
  })
}

}  // extern "C"
