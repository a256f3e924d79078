#include "cpu/blas.hpp"

#include <cblas.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace knnx::cpu {

void sgemm_abt(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(k), 0.0f, out,
              static_cast<int>(n));
}

void sgemm_ab(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
              float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, out,
              static_cast<int>(n));
}

void sgemm_atb(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
               float* out) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(n),
              static_cast<int>(m), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, out,
              static_cast<int>(n));
}

namespace {

// Address space one BLAS-calling thread may take: OpenBLAS's per-thread work buffer (32 MiB on
// x86-64, plus alignment) and an OpenMP thread stack (8 MiB by default), with margin.
constexpr std::uint64_t kBytesPerBlasThread = std::uint64_t{64} << 20;

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

int blas_threads_within_limits(int requested) {
  rlimit limit{};
  if (requested <= 1 || ::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return requested;
  }
  const std::uint64_t cap = limit.rlim_cur;
  const std::uint64_t used = address_space_used();
  const std::uint64_t left = cap > used ? cap - used : 0;
  const std::uint64_t affordable = left / 2 / kBytesPerBlasThread;
  return static_cast<int>(
      std::clamp<std::uint64_t>(affordable, 1, static_cast<std::uint64_t>(requested)));
}

}  // namespace knnx::cpu
