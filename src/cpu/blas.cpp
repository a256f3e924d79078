#include "cpu/blas.hpp"

#include <cblas.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "knnx/error.hpp"

namespace knnx::cpu {

namespace {

// Address space OpenBLAS maps for one thread's work buffer on first use (128 MiB in Debian's
// x86-64 builds), and that plus an OpenMP stack and margin for one BLAS-calling thread.
constexpr std::uint64_t kBlasBufferBytes = std::uint64_t{128} << 20;
constexpr std::uint64_t kBytesPerBlasThread = std::uint64_t{160} << 20;

// The address-space cap (RLIMIT_AS) in force, or 0 when there is none.
std::uint64_t address_space_cap() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return limit.rlim_cur;
}

// Under an address-space cap, OpenBLAS retries forever when it cannot map a work buffer (the
// process hangs). Before the first sgemm of a thread under a cap, check that the buffers it may
// map fit (one for a call inside a parallel region, one per OpenMP thread outside, where
// OpenBLAS splits the call), and throw OutOfMemory instead. A thread that has run an sgemm holds
// a buffer slot in OpenBLAS's pool and is not checked again.
void ensure_blas_buffers_fit() {
  thread_local bool ran_under_cap = false;
  if (ran_under_cap || address_space_cap() == 0) return;
  const std::uint64_t buffers =
      omp_in_parallel() ? 1 : static_cast<std::uint64_t>(std::max(1, omp_get_max_threads()));
  const std::size_t bytes = static_cast<std::size_t>(buffers * kBlasBufferBytes);
  void* probe =
      ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) {
    throw OutOfMemory("the address-space limit (RLIMIT_AS, ulimit -v) leaves no room for the " +
                      std::to_string(bytes >> 20) +
                      " MiB of BLAS work buffers a matrix product needs: raise the limit or "
                      "use fewer threads (KNNX_NUM_THREADS, OMP_NUM_THREADS)");
  }
  ::munmap(probe, bytes);
  ran_under_cap = true;
}

}  // namespace

void sgemm_abt(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float* out) {
  ensure_blas_buffers_fit();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(k), 0.0f, out,
              static_cast<int>(n));
}

void sgemm_ab(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
              float* out) {
  ensure_blas_buffers_fit();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, out,
              static_cast<int>(n));
}

void sgemm_atb(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
               float* out) {
  ensure_blas_buffers_fit();
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(n),
              static_cast<int>(m), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, out,
              static_cast<int>(n));
}

namespace {

// The process's mapped address space, from /proc/self/statm (0 when unknown).
std::uint64_t address_space_used() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long pages = 0;
  const int got = std::fscanf(f, "%llu", &pages);
  std::fclose(f);
  if (got != 1) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

int cpu_threads(int requested) {
  return blas_threads_within_limits(requested > 0 ? requested : omp_get_max_threads());
}

int blas_threads_within_limits(int requested) {
  const std::uint64_t cap = requested > 1 ? address_space_cap() : 0;
  if (cap == 0) return requested;
  const std::uint64_t used = address_space_used();
  const std::uint64_t left = cap > used ? cap - used : 0;
  const std::uint64_t affordable = left / 2 / kBytesPerBlasThread;
  return static_cast<int>(
      std::clamp<std::uint64_t>(affordable, 1, static_cast<std::uint64_t>(requested)));
}

}  // namespace knnx::cpu
