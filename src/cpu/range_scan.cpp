#include "cpu/range_scan.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>

#include "core/parallel_errors.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

// Queries scanned between two appends to the result.
constexpr idx_t kQueryChunk = 256;

}  // namespace

void range_scan_rows(const float* query, const float* rows, const idx_t* row_ids, idx_t n, int d,
                     Metric metric, float radius, const IDSelector* sel,
                     std::vector<RangeHit>& hits) {
  const bool l2 = metric == Metric::L2;
  for (idx_t j = 0; j < n; ++j) {
    const float* r = rows + j * d;
    float acc = 0.0f;
    if (l2) {
      for (int c = 0; c < d; ++c) {
        const float diff = query[c] - r[c];
        acc += diff * diff;
      }
    } else {
      for (int c = 0; c < d; ++c) acc += query[c] * r[c];
    }
    if (!(l2 ? acc < radius : acc > radius)) continue;
    if (sel && !sel->is_member(row_ids[j])) continue;
    hits.push_back({acc, row_ids[j]});
  }
}

RangeSearchResult range_search_by_query(
    idx_t nq, Metric metric, int num_threads,
    const std::function<void(idx_t q, std::vector<RangeHit>& hits)>& scan_query) {
  const bool l2 = metric == Metric::L2;
  const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
  RangeSearchResult result;
  try {
    result.lims.assign(static_cast<std::size_t>(nq) + 1, 0);
    std::vector<std::vector<RangeHit>> chunk(static_cast<std::size_t>(std::min(nq, kQueryChunk)));
    for (idx_t q0 = 0; q0 < nq; q0 += kQueryChunk) {
      const idx_t qn = std::min(kQueryChunk, nq - q0);
      detail::ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (qn > 1)
      for (idx_t i = 0; i < qn; ++i) {
        errors.run([&] {
          std::vector<RangeHit>& hits = chunk[static_cast<std::size_t>(i)];
          hits.clear();
          scan_query(q0 + i, hits);
          std::sort(hits.begin(), hits.end(), [l2](const RangeHit& a, const RangeHit& b) {
            if (a.distance != b.distance)
              return l2 ? a.distance < b.distance : a.distance > b.distance;
            return a.label < b.label;
          });
        });
      }
      errors.rethrow("CPU range search");
      for (idx_t i = 0; i < qn; ++i) {
        const std::vector<RangeHit>& hits = chunk[static_cast<std::size_t>(i)];
        for (const RangeHit& h : hits) {
          result.distances.push_back(h.distance);
          result.labels.push_back(h.label);
        }
        result.lims[static_cast<std::size_t>(q0 + i) + 1] =
            static_cast<idx_t>(result.labels.size());
      }
    }
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(
        fmt::format("the results of a range search of {} queries do not fit in host "
                    "memory (lower the radius or search fewer queries at once)",
                    nq));
  }
  return result;
}

}  // namespace knnx::cpu
