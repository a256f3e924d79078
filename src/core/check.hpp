// core/check.hpp — argument validation helpers used at the public boundary.
//
// Each helper throws knnx::InvalidArgument with a message that names the argument and its value.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <limits>

#include "core/check_flags.hpp"
#include "knnx/error.hpp"
#include "knnx/types.hpp"

namespace knnx {
struct Device;  // knnx/device.hpp
}

namespace knnx::detail {

// The NotSupported error for a CUDA device asked of a build without the CUDA backend; its
// message says what to do instead (the CPU, or a build where nvcc is found).
NotSupported no_cuda_backend_error(Device device);

// Throws InvalidArgument, saying what to do instead, unless CUDA device `device` is one of the
// `count` this process sees.
void require_cuda_device_exists(Device device, int count);

// Throws InvalidArgument(fmt::format(...)) when cond is false.
template <typename... Args>
inline void require(bool cond, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw InvalidArgument(fmt::format(format, std::forward<Args>(args)...));
}

inline void check_not_null(const void* p, const char* name) {
  require(p != nullptr, "{} must not be null", name);
}

inline void check_dim(long long dim, const char* name = "dim") {
  require(dim >= 1 && dim <= kMaxDim, "{} must be in [1, {}], got {}", name, kMaxDim, dim);
}

inline void check_count(idx_t n, const char* name = "n") {
  require(n >= 1, "{} must be >= 1, got {}", name, n);
}

inline void check_k(long long k) {
  require(k >= 1 && k <= kMaxK,
          "k must be in [1, {}], got {} (the limit bounds the results' memory: 12 bytes a "
          "neighbour per query)",
          kMaxK, k);
}

// n * d elements must be addressable as size_t and as idx_t.
inline std::size_t checked_elements(idx_t n, idx_t d, const char* name) {
  require(n >= 0 && d >= 0, "{}: negative size {} x {}", name, n, d);
  require(d == 0 || n <= std::numeric_limits<idx_t>::max() / d / 8, "{}: size {} x {} overflows",
          name, n, d);
  return static_cast<std::size_t>(n) * static_cast<std::size_t>(d);
}

// The bound on squared L2 norms of vectors (knnx/types.hpp), for the checks and the loaders.
using knnx::kMaxSquaredNorm;

// Throws InvalidArgument if x[0..n*d) contains NaN or Inf, naming the first offending row.
void check_finite_host(idx_t n, idx_t d, const float* x, const char* what);

// check_finite_host for vectors (n rows of d, stored, searched for or trained on): also throws
// InvalidArgument naming the first row whose squared L2 norm is above kMaxSquaredNorm. The same
// single pass when every value is small enough that no row can exceed it (the common case).
void check_vectors_host(idx_t n, idx_t d, const float* x, const char* what);

// The first row of x[0..n*d) whose squared L2 norm (summed in double) is above kMaxSquaredNorm,
// or -1; its norm in *norm. For loaders, which report it as a FormatError.
idx_t first_row_above_norm_bound(idx_t n, idx_t d, const float* x, double* norm);

// For a device call that checked x (or its staged copy) on the device: throws InvalidArgument
// when `flag` is set, naming the row when x is host memory (the scan runs only on this error
// path) and the reason the flag gives otherwise.
void require_not_flagged(unsigned long long flag, bool x_on_host, idx_t n, idx_t d, const float* x,
                         const char* what);

}  // namespace knnx::detail
