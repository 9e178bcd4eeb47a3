// common.h: handle types and the error boundary shared by the shim's files.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <atomic>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mz.h"

struct mz_tensor_s {
  at::Tensor t;
};

struct mz_generator_s {
  at::Generator g;
};

// mz_params_s holds references to a list of tensors plus scratch buffers,
// one per (device, dtype): chunk elements on the CPU (z is drawn a part of a
// tensor at a time), the largest tensor of that kind on CUDA.
struct mz_params_s {
  std::vector<at::Tensor> ts;
  int64_t chunk = int64_t(1) << 18;  // CPU z part size in elements; 0: whole tensors
  std::vector<at::Tensor> scratch;   // reused by perturb/update
  std::vector<at::Tensor> scratch2;  // second buffer: weight-decay term
  int z = MZ_Z_TORCH;                // z stream: MZ_Z_TORCH or MZ_Z_PHILOX (philox.cpp)
};

namespace mz {

inline char *dup(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

inline mz_tensor wrap(at::Tensor t) { return new mz_tensor_s{std::move(t)}; }

inline at::Tensor &T(mz_tensor h) {
  if (h == nullptr) throw std::invalid_argument("nil tensor handle");
  if (!h->t.defined()) throw std::invalid_argument("undefined tensor");
  return h->t;
}

inline at::Device device(int type, int64_t index) {
  if (type == MZ_CPU) return at::Device(at::kCPU);
  if (type == MZ_CUDA) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  throw std::invalid_argument("unknown device type " + std::to_string(type));
}

inline at::ScalarType dtype(int d) {
  switch (d) {
    case MZ_U8: case MZ_I8: case MZ_I16: case MZ_I32: case MZ_I64:
    case MZ_F16: case MZ_F32: case MZ_F64: case MZ_BOOL: case MZ_BF16:
      return static_cast<at::ScalarType>(d);
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(d));
}

inline at::IntArrayRef shape(const int64_t *s, int64_t rank) {
  if (rank < 0) throw std::invalid_argument("negative rank");
  return at::IntArrayRef(s, static_cast<size_t>(rank));
}

// intraop_threads is the thread count mz_set_num_threads asked for (0:
// libtorch's default). With OpenMP, libtorch's count lives in each OS
// thread (omp_set_num_threads), taken from the global one only on a
// thread's first parallel region; Go runs shim calls on many OS threads, so
// a thread that computed before the count was set would keep the default.
extern std::atomic<int> intraop_threads;

// sync_threads applies the requested intra-op thread count to the calling
// OS thread when it differs (cheap when it does not).
inline void sync_threads() {
  int n = intraop_threads.load(std::memory_order_relaxed);
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

// AutocastGuard turns CUDA autocast on in a dtype for its lifetime (code 0:
// leaves it as it is) and restores the thread's previous state after,
// clearing the cast cache it may have filled.
struct AutocastGuard {
  explicit AutocastGuard(int code) {
    if (code == 0) return;
    if (code != MZ_BF16 && code != MZ_F16)
      throw std::invalid_argument("autocast dtype code " + std::to_string(code) + ": want bfloat16 or float16");
    on = true;
    prev_enabled = at::autocast::is_enabled();
    prev_dtype = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(static_cast<at::ScalarType>(code));
    at::autocast::set_enabled(true);
  }
  ~AutocastGuard() {
    if (!on) return;
    at::autocast::set_enabled(prev_enabled);
    at::autocast::set_autocast_gpu_dtype(prev_dtype);
    if (!prev_enabled) at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard &) = delete;
  AutocastGuard &operator=(const AutocastGuard &) = delete;
  bool on = false, prev_enabled = false;
  at::ScalarType prev_dtype = at::kHalf;
};

// ModeGuard applies a grad mode, and the autocast dtype the mode may carry
// above MZ_AUTOCAST_SHIFT, for the duration of one shim call (and the
// requested thread count to the calling thread).
struct ModeGuard {
  explicit ModeGuard(int mode)
      : grad((sync_threads(), check(mode & ((1 << MZ_AUTOCAST_SHIFT) - 1)) == MZ_GRAD)),
        autocast(mode >> MZ_AUTOCAST_SHIFT) {
    // InferenceMode(false) would switch grad mode on, so construct it only
    // when asked for.
    if ((mode & ((1 << MZ_AUTOCAST_SHIFT) - 1)) == MZ_INFERENCE) inference.emplace(true);
  }
  static int check(int m) {
    if (m != MZ_NO_GRAD && m != MZ_GRAD && m != MZ_INFERENCE)
      throw std::invalid_argument("unknown grad mode " + std::to_string(m));
    return m;
  }
  c10::AutoGradMode grad;
  AutocastGuard autocast;
  c10::optional<c10::InferenceMode> inference;
};

}  // namespace mz

// MZ_TRY wraps a function body: success returns NULL, every exception
// becomes an error string owned by the caller (freed with mz_free). It
// first applies the requested thread count to the calling OS thread, for
// every call: a call that computed without it on a thread Go had just made
// (as it does under load) ran with libtorch's default count, and
// clip_grad_norm's reductions then split differently, flipping the last
// bits of fine-tuning runs from run to run.
#define MZ_TRY(...)                                                   \
  try {                                                               \
    mz::sync_threads();                                               \
    __VA_ARGS__;                                                      \
    return nullptr;                                                   \
  } catch (const c10::Error &e) {                                     \
    return mz::dup(e.what_without_backtrace());                       \
  } catch (const std::exception &e) {                                 \
    return mz::dup(e.what());                                         \
  } catch (...) {                                                     \
    return mz::dup("unknown C++ exception");                          \
  }
