// optim.cpp: the reference's optimizers as whole-list passes. Each step uses
// the same ATen calls, in the same order, as torch.optim.SGD (1.13, no
// momentum) and transformers.AdamW (4.28), so it rounds as they do.
#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <type_traits>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include "common.h"

struct mz_optim_s {
  enum Kind { SGD, ADAMW_HF, SGD_MOMENTUM, TORCH_ADAM, TORCH_ADAMW } kind;
  std::vector<at::Tensor> ts;
  std::vector<double> wd;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool correct_bias = true;
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  // libtorch's own optimizer (TORCH_ADAM, TORCH_ADAMW).
  std::unique_ptr<torch::optim::Optimizer> impl;
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
    if (o.kind == mz_optim_s::SGD_MOMENTUM) {
      // torch.optim.SGD's momentum buffer (foreach off).
      auto &buf = o.exp_avg[i];
      if (!buf.defined()) {
        buf = d.clone().detach();
      } else {
        buf.mul_(o.momentum).add_(d, 1.0 - o.dampening);
      }
      o.steps[i]++;
      d = o.nesterov ? d.add(buf, o.momentum) : buf;
    }
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

// The key of a parameter in libtorch's optimizer state (a string of the
// TensorImpl address in 1.13, the address itself in later versions).
using StateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer &>().state())>::key_type;

template <class K>
K state_key(const at::Tensor &p) {
  if constexpr (std::is_same_v<K, std::string>) {
    std::ostringstream os;
    os << static_cast<const void *>(p.unsafeGetTensorImpl());
    return os.str();
  } else {
    return static_cast<K>(p.unsafeGetTensorImpl());
  }
}

template <class State>
void torch_state_out(mz_optim_s &o, size_t i, int64_t *step, at::Tensor *m, at::Tensor *v) {
  auto &st = o.impl->state();
  auto it = st.find(state_key<StateKey>(o.ts[i]));
  if (it == st.end()) {
    *step = 0;
    return;
  }
  auto &s = static_cast<State &>(*it->second);
  *step = s.step();
  *m = s.exp_avg();
  *v = s.exp_avg_sq();
}

template <class State>
void torch_state_in(mz_optim_s &o, size_t i, int64_t step, const at::Tensor &m, const at::Tensor &v) {
  auto &st = o.impl->state();
  auto key = state_key<StateKey>(o.ts[i]);
  if (step == 0) {
    st.erase(key);
    return;
  }
  auto s = std::make_unique<State>();
  s->step(step);
  s->exp_avg(m.to(o.ts[i].options(), false, true));
  s->exp_avg_sq(v.to(o.ts[i].options(), false, true));
  st[key] = std::move(s);
}

}  // namespace

extern "C" {

mz_err mz_optim_sgd_momentum(mz_params params, const double *wd, double momentum, double dampening, int nesterov,
                             mz_optim *out) {
  MZ_TRY({
    if (!(momentum >= 0)) throw std::invalid_argument("SGD momentum must be ≥ 0");
    if (nesterov && (momentum <= 0 || dampening != 0))
      throw std::invalid_argument("Nesterov momentum requires a momentum and zero dampening");
    auto *o = make(params, wd, mz_optim_s::SGD_MOMENTUM);
    o->momentum = momentum;
    o->dampening = dampening;
    o->nesterov = nesterov != 0;
    *out = o;
  })
}

mz_err mz_optim_torch_adam(mz_params params, const double *wd, double beta1, double beta2, double eps, int amsgrad,
                           int decoupled, mz_optim *out) {
  MZ_TRY({
    if (amsgrad) throw std::invalid_argument("amsgrad is not supported");
    auto *o = make(params, wd, decoupled ? mz_optim_s::TORCH_ADAMW : mz_optim_s::TORCH_ADAM);
    try {
      std::map<double, std::vector<at::Tensor>> by_wd;
      for (size_t i = 0; i < o->ts.size(); i++) by_wd[o->wd[i]].push_back(o->ts[i]);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      if (decoupled) {
        for (auto &kv : by_wd) {
          auto opt = torch::optim::AdamWOptions(0).betas({beta1, beta2}).eps(eps).weight_decay(kv.first);
          groups.emplace_back(kv.second, std::make_unique<torch::optim::AdamWOptions>(opt));
        }
        o->impl = std::make_unique<torch::optim::AdamW>(
            groups, torch::optim::AdamWOptions(0).betas({beta1, beta2}).eps(eps).weight_decay(0));
      } else {
        for (auto &kv : by_wd) {
          auto opt = torch::optim::AdamOptions(0).betas({beta1, beta2}).eps(eps).weight_decay(kv.first);
          groups.emplace_back(kv.second, std::make_unique<torch::optim::AdamOptions>(opt));
        }
        o->impl = std::make_unique<torch::optim::Adam>(
            groups, torch::optim::AdamOptions(0).betas({beta1, beta2}).eps(eps).weight_decay(0));
      }
    } catch (...) {
      delete o;
      throw;
    }
    *out = o;
  })
}

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
    switch (o->kind) {
      case mz_optim_s::SGD:
      case mz_optim_s::SGD_MOMENTUM:
        sgd_step(*o, lr);
        break;
      case mz_optim_s::ADAMW_HF:
        adamw_hf_step(*o, lr);
        break;
      case mz_optim_s::TORCH_ADAM:
      case mz_optim_s::TORCH_ADAMW:
        for (auto &g : o->impl->param_groups()) g.options().set_lr(lr);
        o->impl->step();
        break;
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
        if (o->impl) {
          at::Tensor em, ev;
          if (o->kind == mz_optim_s::TORCH_ADAMW) {
            torch_state_out<torch::optim::AdamWParamState>(*o, i, &steps[i], &em, &ev);
          } else {
            torch_state_out<torch::optim::AdamParamState>(*o, i, &steps[i], &em, &ev);
          }
          m->ts.push_back(em.defined() ? em.clone() : at::zeros_like(o->ts[i]));
          v->ts.push_back(ev.defined() ? ev.clone() : at::zeros_like(o->ts[i]));
          continue;
        }
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
      if (o->impl) {
        if (o->kind == mz_optim_s::TORCH_ADAMW) {
          torch_state_in<torch::optim::AdamWParamState>(*o, i, steps[i], exp_avg->ts[i], exp_avg_sq->ts[i]);
        } else {
          torch_state_in<torch::optim::AdamParamState>(*o, i, steps[i], exp_avg->ts[i], exp_avg_sq->ts[i]);
        }
        continue;
      }
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

mz_err mz_optim_info(mz_optim o, int *kind, double *hyper, double *wd) {
  MZ_TRY({
    if (o == nullptr) throw std::invalid_argument("nil optimizer");
    *kind = static_cast<int>(o->kind);
    double h[8] = {o->beta1, o->beta2, o->eps, o->correct_bias ? 1.0 : 0.0, o->momentum, o->dampening,
                   o->nesterov ? 1.0 : 0.0, 0};
    if (o->kind == mz_optim_s::SGD || o->kind == mz_optim_s::SGD_MOMENTUM) h[0] = h[1] = h[2] = h[3] = 0;  // no Adam
    for (size_t i = 0; i < o->ts.size(); i++) wd[i] = o->wd[i];
    if (o->impl) {
      // What libtorch holds: each group's options, and its tensors' decay.
      h[3] = 1;  // libtorch's Adam always corrects the bias
      bool first = true;
      for (auto &g : o->impl->param_groups()) {
        double b1, b2, e, w;
        if (o->kind == mz_optim_s::TORCH_ADAMW) {
          auto &op = static_cast<torch::optim::AdamWOptions &>(g.options());
          b1 = std::get<0>(op.betas()), b2 = std::get<1>(op.betas()), e = op.eps(), w = op.weight_decay();
        } else {
          auto &op = static_cast<torch::optim::AdamOptions &>(g.options());
          b1 = std::get<0>(op.betas()), b2 = std::get<1>(op.betas()), e = op.eps(), w = op.weight_decay();
        }
        if (!first && (b1 != h[0] || b2 != h[1] || e != h[2]))
          throw std::runtime_error("libtorch optimizer groups with different betas or eps");
        h[0] = b1, h[1] = b2, h[2] = e, first = false;
        for (auto &p : g.params()) {
          for (size_t i = 0; i < o->ts.size(); i++) {
            if (o->ts[i].unsafeGetTensorImpl() == p.unsafeGetTensorImpl()) wd[i] = w;
          }
        }
      }
    }
    for (int i = 0; i < 8; i++) hyper[i] = h[i];
  })
}

}  // extern "C"
