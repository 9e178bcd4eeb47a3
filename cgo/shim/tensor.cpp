// tensor.cpp: creating, copying, inspecting and freeing tensors; autograd.
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#ifdef MZ_WITH_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "common.h"

using mz::T;

namespace {

at::TensorOptions opts(int dtype, int dev_type, int64_t dev_index) {
  return at::TensorOptions().dtype(mz::dtype(dtype)).device(mz::device(dev_type, dev_index));
}

// generator returns a new generator for dev seeded with seed, so the stream
// equals torch.manual_seed(seed) followed by draws on that device, without
// touching the global generator. (Generator::clone() of libtorch 1.13 leaks
// the clone, about 5 KB per call: its intrusive_ptr is made without a weak
// reference, so it is never deleted. Make new generators instead.)
at::Generator generator(const at::Device &dev, uint64_t seed) {
  if (dev.is_cpu()) return at::detail::createCPUGenerator(seed);
#ifdef MZ_WITH_CUDA
  if (dev.is_cuda()) {
    auto g = at::cuda::detail::createCUDAGenerator(dev.index() < 0 ? c10::cuda::current_device() : dev.index());
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
    return g;
  }
#endif
  throw std::invalid_argument("no generator for device " + dev.str() + " in this build");
}

}  // namespace

namespace mz {
at::Generator seeded_generator(const at::Device &dev, uint64_t seed) { return generator(dev, seed); }
}  // namespace mz

extern "C" {

mz_err mz_tensor_free(mz_tensor t) { MZ_TRY({ delete t; }) }

mz_err mz_generator_new(int dev_type, int64_t dev_index, uint64_t seed, mz_generator *out) {
  MZ_TRY({ *out = new mz_generator_s{generator(mz::device(dev_type, dev_index), seed)}; })
}

mz_err mz_generator_free(mz_generator g) { MZ_TRY({ delete g; }) }

mz_err mz_generator_random64(mz_generator g, int64_t *out) {
  MZ_TRY({
    if (g == nullptr) throw std::invalid_argument("nil generator");
    auto t = at::empty({}, at::TensorOptions().dtype(at::kLong).device(g->g.device()));
    t.random_(g->g);
    *out = t.item<int64_t>();
  })
}

mz_err mz_generator_fill(mz_generator g, mz_tensor t, int kind, double a, double b) {
  MZ_TRY({
    if (g == nullptr) throw std::invalid_argument("nil generator");
    at::NoGradGuard ng;
    auto &x = mz::T(t);
    switch (kind) {
      case 0: x.normal_(a, b, g->g); break;
      case 1: x.uniform_(a, b, g->g); break;
      default: throw std::invalid_argument("unknown fill kind " + std::to_string(kind));
    }
  })
}

mz_err mz_generator_randperm(mz_generator g, int64_t n, int64_t *out) {
  MZ_TRY({
    if (g == nullptr) throw std::invalid_argument("nil generator");
    if (n < 0) throw std::invalid_argument("randperm of a negative size");
    auto t = at::randperm(n, g->g, at::TensorOptions().dtype(at::kLong).device(g->g.device())).to(at::kCPU);
    std::memcpy(out, t.data_ptr<int64_t>(), sizeof(int64_t) * static_cast<size_t>(n));
  })
}

mz_err mz_generator_state(mz_generator g, uint8_t *buf, int64_t cap, int64_t *n) {
  MZ_TRY({
    if (g == nullptr) throw std::invalid_argument("nil generator");
    auto st = g->g.get_state();
    *n = st.numel();
    if (buf != nullptr) {
      if (cap < st.numel()) throw std::invalid_argument("generator state needs " + std::to_string(st.numel()) + " bytes");
      std::memcpy(buf, st.data_ptr<uint8_t>(), static_cast<size_t>(st.numel()));
    }
  })
}

mz_err mz_generator_set_state(mz_generator g, const uint8_t *buf, int64_t n) {
  MZ_TRY({
    if (g == nullptr) throw std::invalid_argument("nil generator");
    auto st = at::empty({n}, at::TensorOptions().dtype(at::kByte));
    std::memcpy(st.data_ptr<uint8_t>(), buf, static_cast<size_t>(n));
    g->g.set_state(st);
  })
}

mz_err mz_from_data(const void *data, size_t nbytes, const int64_t *shape, int64_t rank,
                    int dtype, int dev_type, int64_t dev_index, mz_tensor *out) {
  MZ_TRY({
    auto cpu = at::empty(mz::shape(shape, rank), opts(dtype, MZ_CPU, -1));
    size_t want = static_cast<size_t>(cpu.numel()) * cpu.element_size();
    if (want != nbytes)
      throw std::invalid_argument("from_data: " + std::to_string(nbytes) + " bytes for a tensor of " +
                                  std::to_string(want));
    if (nbytes > 0) std::memcpy(cpu.data_ptr(), data, nbytes);
    auto dev = mz::device(dev_type, dev_index);
    *out = mz::wrap(dev.is_cpu() ? cpu : cpu.to(dev));
  })
}

mz_err mz_to_data(mz_tensor h, void *data, size_t nbytes) {
  MZ_TRY({
    auto t = T(h).detach().to(at::kCPU).contiguous();
    size_t have = static_cast<size_t>(t.numel()) * t.element_size();
    if (have != nbytes)
      throw std::invalid_argument("to_data: buffer of " + std::to_string(nbytes) + " bytes for a tensor of " +
                                  std::to_string(have));
    if (nbytes > 0) std::memcpy(data, t.data_ptr(), nbytes);
  })
}

mz_err mz_zeros(const int64_t *shape, int64_t rank, int dtype, int dev_type, int64_t dev_index,
                mz_tensor *out) {
  MZ_TRY({ *out = mz::wrap(at::zeros(mz::shape(shape, rank), opts(dtype, dev_type, dev_index))); })
}

mz_err mz_ones(const int64_t *shape, int64_t rank, int dtype, int dev_type, int64_t dev_index,
               mz_tensor *out) {
  MZ_TRY({ *out = mz::wrap(at::ones(mz::shape(shape, rank), opts(dtype, dev_type, dev_index))); })
}

mz_err mz_full(const int64_t *shape, int64_t rank, double value, int dtype, int dev_type,
               int64_t dev_index, mz_tensor *out) {
  MZ_TRY({ *out = mz::wrap(at::full(mz::shape(shape, rank), value, opts(dtype, dev_type, dev_index))); })
}

mz_err mz_arange(int64_t n, int dtype, int dev_type, int64_t dev_index, mz_tensor *out) {
  MZ_TRY({ *out = mz::wrap(at::arange(n, opts(dtype, dev_type, dev_index))); })
}

mz_err mz_randn(const int64_t *shape, int64_t rank, uint64_t seed, int dtype, int dev_type,
                int64_t dev_index, mz_tensor *out) {
  MZ_TRY({
    auto o = opts(dtype, dev_type, dev_index);
    auto t = at::empty(mz::shape(shape, rank), o);
    auto g = generator(o.device(), seed);
    t.normal_(0.0, 1.0, g);
    *out = mz::wrap(t);
  })
}

mz_err mz_rank(mz_tensor h, int64_t *rank) { MZ_TRY({ *rank = T(h).dim(); }) }

mz_err mz_shape(mz_tensor h, int64_t *shape, int64_t cap) {
  MZ_TRY({
    auto s = T(h).sizes();
    for (int64_t i = 0; i < static_cast<int64_t>(s.size()) && i < cap; i++) shape[i] = s[i];
  })
}

mz_err mz_dtype(mz_tensor h, int *dtype) { MZ_TRY({ *dtype = static_cast<int>(T(h).scalar_type()); }) }

mz_err mz_device(mz_tensor h, int *dev_type, int64_t *dev_index) {
  MZ_TRY({
    auto d = T(h).device();
    if (d.is_cpu()) {
      *dev_type = MZ_CPU;
      *dev_index = -1;
    } else if (d.is_cuda()) {
      *dev_type = MZ_CUDA;
      *dev_index = d.index();
    } else {
      throw std::runtime_error("unsupported device " + d.str());
    }
  })
}

mz_err mz_numel(mz_tensor h, int64_t *n) { MZ_TRY({ *n = T(h).numel(); }) }

mz_err mz_item_double(mz_tensor h, double *v) { MZ_TRY({ *v = T(h).item<double>(); }) }

mz_err mz_item_int64(mz_tensor h, int64_t *v) { MZ_TRY({ *v = T(h).item<int64_t>(); }) }

mz_err mz_shallow(mz_tensor h, mz_tensor *out) { MZ_TRY({ *out = mz::wrap(T(h)); }) }

mz_err mz_clone(mz_tensor h, int mode, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard g(mode);
    *out = mz::wrap(T(h).clone());
  })
}

mz_err mz_detach(mz_tensor h, mz_tensor *out) { MZ_TRY({ *out = mz::wrap(T(h).detach()); }) }

mz_err mz_to(mz_tensor h, int dtype, int dev_type, int64_t dev_index, int mode, mz_tensor *out) {
  MZ_TRY({
    mz::ModeGuard g(mode);
    *out = mz::wrap(T(h).to(mz::device(dev_type, dev_index), mz::dtype(dtype)));
  })
}

mz_err mz_copy_(mz_tensor dst, mz_tensor src) {
  MZ_TRY({
    at::NoGradGuard g;
    T(dst).copy_(T(src));
  })
}

mz_err mz_set_requires_grad(mz_tensor h, int yes) { MZ_TRY({ T(h).set_requires_grad(yes != 0); }) }

mz_err mz_requires_grad(mz_tensor h, int *yes) { MZ_TRY({ *yes = T(h).requires_grad() ? 1 : 0; }) }

mz_err mz_grad(mz_tensor h, mz_tensor *out) {
  MZ_TRY({
    const auto &g = T(h).grad();
    *out = g.defined() ? mz::wrap(g) : nullptr;
  })
}

mz_err mz_backward(mz_tensor loss) {
  MZ_TRY({
    c10::AutoGradMode g(true);
    mz::sync_threads();
    T(loss).backward();
  })
}

mz_err mz_equal(mz_tensor a, mz_tensor b, int *yes) { MZ_TRY({ *yes = at::equal(T(a), T(b)) ? 1 : 0; }) }

mz_err mz_format(mz_tensor h, char **out) {
  MZ_TRY({
    std::ostringstream os;
    os << T(h);
    *out = mz::dup(os.str());
  })
}

}  // extern "C"
