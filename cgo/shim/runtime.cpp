// runtime.cpp: version, devices, threads, global seed.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "common.h"

#include <dlfcn.h>

#ifdef MZ_WITH_CUDA
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mz {
std::atomic<int> intraop_threads{0};
}

extern "C" {

void mz_free(void *p) { std::free(p); }

mz_err mz_version(char *buf, size_t n) {
  MZ_TRY({
    std::string v = TORCH_VERSION;
    if (n > 0) {
      std::strncpy(buf, v.c_str(), n - 1);
      buf[n - 1] = 0;
    }
  })
}

// CUDA queries use c10/cuda's functions, stable from libtorch 1.13 to 2.x,
// and only in CUDA builds (MZ_WITH_CUDA, set by build.sh); a CPU build has
// no CUDA device by construction.
mz_err mz_cuda_device_count(int64_t *count) {
  MZ_TRY({
#ifdef MZ_WITH_CUDA
    *count = static_cast<int64_t>(c10::cuda::device_count());
#else
    *count = 0;
#endif
  })
}

mz_err mz_built_with_cuda(int *yes) {
  MZ_TRY({
#ifdef MZ_WITH_CUDA
    *yes = 1;
#else
    *yes = 0;
#endif
  })
}

mz_err mz_cudnn_available(int *yes) { MZ_TRY({ *yes = at::globalContext().hasCuDNN() ? 1 : 0; }) }

mz_err mz_set_num_threads(int64_t n) {
  MZ_TRY({
    if (n < 1) throw std::invalid_argument("thread count must be at least 1");
    at::set_num_threads(static_cast<int>(n));
    mz::intraop_threads.store(static_cast<int>(n));
    // libtorch 1.13 leaves an OpenBLAS pool at its own size (one thread per
    // core); with it larger than ours, fine-tuning's backward GEMMs differed
    // from run to run in the last bits. Keep the two pools equal.
    using set_fn = void (*)(int);
    if (auto f = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(static_cast<int>(n));
  })
}

mz_err mz_get_num_threads(int64_t *n) {
  MZ_TRY({
    mz::sync_threads();
    *n = at::get_num_threads();
  })
}

mz_err mz_set_num_interop_threads(int64_t n) {
  MZ_TRY({
    if (n < 1) throw std::invalid_argument("thread count must be at least 1");
    at::set_num_interop_threads(static_cast<int>(n));
  })
}

mz_err mz_get_num_interop_threads(int64_t *n) { MZ_TRY({ *n = at::get_num_interop_threads(); }) }

mz_err mz_manual_seed(uint64_t seed) { MZ_TRY({ at::manual_seed(seed); }) }

mz_err mz_parallel_info(char **out) { MZ_TRY({ *out = mz::dup(at::get_parallel_info()); }) }

namespace {
std::string library_of(const void *addr) {
  Dl_info info;
  if (dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}
}  // namespace

mz_err mz_library_paths(char **libtorch, char **shim) {
  MZ_TRY({
    // at::get_num_threads lives in libtorch_cpu; mz_version in this shim.
    *libtorch = mz::dup(library_of(reinterpret_cast<const void *>(&at::get_num_threads)));
    *shim = mz::dup(library_of(reinterpret_cast<const void *>(&mz_version)));
  })
}

mz_err mz_release_memory(void) {
  MZ_TRY({
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
  })
}

mz_err mz_cuda_synchronize(int64_t device) {
  MZ_TRY({
#ifdef MZ_WITH_CUDA
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
    C10_CUDA_CHECK(cudaDeviceSynchronize());
#else
    (void)device;
    throw std::runtime_error("this libtorch has no CUDA");
#endif
  })
}

}  // extern "C"

#ifdef MZ_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

extern "C" mz_err mz_cuda_memory(int64_t device, int64_t *allocated, int64_t *peak) {
  MZ_TRY({
#ifdef MZ_WITH_CUDA
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    auto agg = static_cast<size_t>(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE);
    *allocated = stats.allocated_bytes[agg].current;
    *peak = stats.allocated_bytes[agg].peak;
#else
    (void)device;
    *allocated = 0;
    *peak = 0;
#endif
  })
}
