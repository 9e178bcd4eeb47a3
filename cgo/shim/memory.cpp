// memory.cpp: the CPU allocator's accounting (live bytes and peak, as the
// CUDA caching allocator reports for a GPU) and the BLAS that libtorch
// resolved.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <dlfcn.h>
#include <sys/mman.h>

#include <atomic>
#include <climits>
#include <deque>
#include <mutex>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace {

// CountingCPUAllocator is the shim's CPU allocator for tensors. Every block
// carries a 64-byte header that records its size (keeping the 64-byte
// alignment libtorch's allocator gives), so live and peak bytes are known
// for every CPU tensor made after the shim loads, by any thread, autograd's
// saved tensors included.
//
// Blocks of at least kMapped bytes (activations, parameters) are mapped
// straight from the OS and unmapped when freed, so a freed activation
// leaves the resident set at once. Through malloc they would not: glibc
// raises its mmap threshold after the first large free and then serves such
// blocks from heap arenas (one per calling thread, and Go calls from many
// threads), whose freed space stays resident. Measured: two forward passes
// of an 8-layer RoBERTa-base-width model peaked 590 MB above a 1-layer one
// through malloc, 198 MB (the 7 layers' parameters) with mapped blocks.
// Smaller blocks use c10::alloc_cpu as the default allocator does.
//
// Freed mapped blocks are kept in a small cache (MapCache, at most
// kCacheBytes, oldest unmapped first) and reused for a request of the same
// size: a forward pass asks for the same few activation sizes layer after
// layer, and a fresh mapping costs a page fault per page (measured: two
// forwards of a 4-layer RoBERTa-base-width model 7% slower without it). The
// cache is a constant, not a per-layer, addition to the resident set.
//
// Installed at load time; MZ_DEFAULT_CPU_ALLOCATOR=1 in the environment
// keeps libtorch's own allocator (and the counters stay 0).
// MapCache holds freed mapped blocks for reuse, keyed by exact size.
class MapCache {
 public:
  static constexpr size_t kCacheBytes = size_t(96) << 20;

  // take returns a cached block of exactly n bytes, or nullptr.
  void *take(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
      if (it->second == n) {
        void *p = it->first;
        blocks_.erase(std::next(it).base());
        bytes_ -= n;
        return p;
      }
    }
    return nullptr;
  }

  // put keeps a freed block of n bytes, unmapping the oldest blocks (or
  // this one, when it alone exceeds the cache) to stay within kCacheBytes.
  void put(void *p, size_t n) {
    std::vector<std::pair<void *, size_t>> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (n > kCacheBytes) {
        drop.emplace_back(p, n);
      } else {
        blocks_.emplace_back(p, n);
        bytes_ += n;
        while (bytes_ > kCacheBytes) {
          drop.push_back(blocks_.front());
          bytes_ -= blocks_.front().second;
          blocks_.pop_front();
        }
      }
    }
    for (auto &b : drop) munmap(b.first, b.second);
  }

 private:
  std::mutex mu_;
  std::deque<std::pair<void *, size_t>> blocks_;
  size_t bytes_ = 0;
};

MapCache map_cache;

struct CountingCPUAllocator final : public c10::Allocator {
  static constexpr size_t kHeader = 64;  // keeps the 64-byte alignment
  static std::atomic<int64_t> live;
  static std::atomic<int64_t> peak;

  static void note(int64_t delta) {
    int64_t now = live.fetch_add(delta, std::memory_order_relaxed) + delta;
    int64_t p = peak.load(std::memory_order_relaxed);
    while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
  }

  static constexpr size_t kMapped = size_t(1) << 20;

  static void release(void *data) {
    if (data == nullptr) return;
    char *base = static_cast<char *>(data) - kHeader;
    size_t n = *reinterpret_cast<size_t *>(base);
    note(-static_cast<int64_t>(n));
    if (n >= kMapped) {
      map_cache.put(base, n + kHeader);
    } else {
      c10::free_cpu(base);
    }
  }

  // allocate is const in libtorch ≤ 2.2 and not from 2.3 on; both forms are
  // defined, and the one the base class declares overrides it.
  c10::DataPtr allocate(size_t n) const { return make(n); }
  c10::DataPtr allocate(size_t n) { return make(n); }
  // copy_data is pure virtual from libtorch 2.3 on (and unused before).
  void copy_data(void *dest, const void *src, std::size_t count) const { std::memcpy(dest, src, count); }

  static c10::DataPtr make(size_t n) {
    char *base;
    if (n >= kMapped) {
      void *p = map_cache.take(n + kHeader);
      if (p == nullptr) p = mmap(nullptr, n + kHeader, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
      if (n >= (size_t(2) << 20)) madvise(p, n + kHeader, MADV_HUGEPAGE);
#endif
      base = static_cast<char *>(p);
    } else {
      base = static_cast<char *>(c10::alloc_cpu(n + kHeader));
    }
    *reinterpret_cast<size_t *>(base) = n;
    note(static_cast<int64_t>(n));
    void *data = base + kHeader;
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }
};

std::atomic<int64_t> CountingCPUAllocator::live{0};
std::atomic<int64_t> CountingCPUAllocator::peak{0};

CountingCPUAllocator counting_allocator;

bool install_counting_allocator() {
  const char *off = std::getenv("MZ_DEFAULT_CPU_ALLOCATOR");
  if (off != nullptr && off[0] != 0 && off[0] != '0') return false;
  c10::SetCPUAllocator(&counting_allocator, /*priority=*/UCHAR_MAX);
  return true;
}

const bool counting_installed = install_counting_allocator();

std::string library_file(void *sym) {
  Dl_info info;
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "";
  char *real = realpath(info.dli_fname, nullptr);
  std::string out = real ? real : info.dli_fname;
  std::free(real);
  return out;
}

}  // namespace

extern "C" {

mz_err mz_cpu_memory(int64_t *live, int64_t *peak, int *counting) {
  MZ_TRY({
    *live = CountingCPUAllocator::live.load();
    *peak = CountingCPUAllocator::peak.load();
    *counting = counting_installed ? 1 : 0;
  })
}

mz_err mz_cpu_memory_reset_peak(void) {
  MZ_TRY({ CountingCPUAllocator::peak.store(CountingCPUAllocator::live.load()); })
}

mz_err mz_blas_info(char **library, char **vendor, char **config, char **core) {
  MZ_TRY({
    // libtorch calls the Fortran BLAS interface (sgemm_); whichever library
    // the dynamic linker bound it to is the BLAS in use.
    void *gemm = dlsym(RTLD_DEFAULT, "sgemm_");
    std::string lib = library_file(gemm);
    std::string v = gemm ? "unknown" : "none";
    std::string cfg, cn;
    using str_fn = char *(*)();
    if (auto f = reinterpret_cast<str_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
      v = "openblas";
      cfg = f();
      if (auto g = reinterpret_cast<str_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) cn = g();
    } else if (dlsym(RTLD_DEFAULT, "mkl_get_max_threads") || dlsym(RTLD_DEFAULT, "MKL_Get_Max_Threads")) {
      v = "mkl";
    } else if (dlsym(RTLD_DEFAULT, "bli_info_get_version_str")) {
      v = "blis";
    } else if (gemm && lib.find("/blas/") != std::string::npos) {
      v = "reference";  // Debian's netlib libblas3: /usr/lib/<triplet>/blas/libblas.so.3
    }
    *library = mz::dup(lib);
    *vendor = mz::dup(v);
    *config = mz::dup(cfg);
    *core = mz::dup(cn);
  })
}

}  // extern "C"
