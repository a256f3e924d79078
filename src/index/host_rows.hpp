// index/host_rows.hpp — rows an index reads on the host whether the caller passed host or
// device memory: the indexes that encode on the host (IndexPQ, IndexIVFPQ) take device arrays
// on a GPU by copying them first.
#pragma once

#include <fmt/format.h>

#include <new>
#include <vector>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "knnx/device.hpp"
#include "knnx/device_memory.hpp"
#include "knnx/error.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

class HostRows {
 public:
  // n rows of dim floats at x: x itself when it is host memory, else a host copy of the device
  // memory of `device` (OutOfMemory when the copy cannot be allocated).
  HostRows(idx_t n, idx_t dim, const float* x, Device device) : data_(x) {
    if (n == 0 || !is_device_pointer(x)) return;
    const std::size_t count = checked_elements(n, dim, "x");
    try {
      copy_.resize(count);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot allocate a host copy of {} device vectors", n));
    }
    copy_device_to_host(copy_.data(), x, sizeof(float) * count, device);
    data_ = copy_.data();
  }
  const float* data() const { return data_; }

 private:
  std::vector<float> copy_;
  const float* data_;
};

// Index::check_finite for an index that reads x on the host (copied there from device memory).
inline void check_rows_on_host(idx_t n, idx_t dim, const float* x, const char* what,
                               Device device) {
  const HostRows host(n, dim, x, device);
  check_vectors_host(n, dim, host.data(), what);
}

// Whether an index on `device` checks its queries on the host: not on a CUDA device, whose
// search checks its staged copy of them (require_not_flagged names a bad host row); device
// memory given to an index on the CPU is an InvalidArgument.
inline bool queries_checked_on_host(const float* queries, Device device) {
  if (device.is_cuda()) return false;
  require(!is_device_pointer(queries), "queries are CUDA device memory but the index is on {}",
          device.to_string());
  return true;
}

}  // namespace knnx::detail
