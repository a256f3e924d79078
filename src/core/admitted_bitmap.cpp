#include "core/admitted_bitmap.hpp"

#include <algorithm>
#include <atomic>

#include "core/parallel_errors.hpp"

namespace knnx::detail {
namespace {

// Positions below which one thread evaluates the selector (the parallel region costs more).
constexpr idx_t kParallelMin = 1 << 16;

}  // namespace

void mark_admitted(const IDSelector& sel, idx_t n, const idx_t* ids, idx_t first,
                   std::uint32_t* words) {
  if (n <= 0) return;
  const idx_t end = first + n;
  const idx_t w_begin = first >> 5;
  const idx_t w_end = (end + 31) >> 5;
  ParallelErrors errors;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (idx_t w = w_begin; w < w_end; ++w) {
    errors.run([&] {
      const idx_t p_begin = std::max(first, w << 5);
      const idx_t p_end = std::min(end, (w + 1) << 5);
      std::uint32_t bits = 0;
      for (idx_t p = p_begin; p < p_end; ++p) {
        if (sel.is_member(ids[p - first])) bits |= 1u << (p & 31);
      }
      if (bits != 0) {
        std::atomic_ref<std::uint32_t>(words[w]).fetch_or(bits, std::memory_order_relaxed);
      }
    });
  }
  errors.rethrow("IDSelector evaluation");
}

}  // namespace knnx::detail
