// core/parallel_errors.hpp — keeps exceptions inside OpenMP parallel regions.
//
// An exception that leaves an OpenMP structured block calls std::terminate. Every body that can
// throw (an allocation, a nested search) runs through ParallelErrors::run inside the region; the
// first exception is kept, the remaining iterations are skipped, and rethrow() raises it on the
// calling thread once the region has ended. std::bad_alloc becomes knnx::OutOfMemory there.
//
//   ParallelErrors errors;
//   #pragma omp parallel for
//   for (idx_t i = 0; i < n; ++i) errors.run([&] { work(i); });
//   errors.rethrow("CPU flat search");
//
// Worksharing constructs (`omp for`, barriers) must stay outside run(), reached by every thread.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <new>

#include "knnx/error.hpp"

namespace knnx::detail {

class ParallelErrors {
 public:
  // Runs body() unless an earlier body failed; never throws.
  template <typename Body>
  void run(Body&& body) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }

  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  // Outside the region: rethrows the first exception kept, std::bad_alloc as OutOfMemory naming
  // `what` (the operation that ran out of memory).
  void rethrow(const char* what) const {
    if (!first_) return;
    try {
      std::rethrow_exception(first_);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("{}: out of host memory", what));
    }
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace knnx::detail
