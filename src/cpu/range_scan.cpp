#include "cpu/range_scan.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>

#include "core/metric_dispatch.hpp"
#include "core/parallel_errors.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

// Queries scanned between two appends to the result.
constexpr idx_t kQueryChunk = 256;

// Whether distance a ranks before b: smaller squared distances, larger inner products.
template <Metric M>
bool ranks_before(float a, float b) {
  if constexpr (detail::kIsL2<M>) {
    return a < b;
  } else {
    return a > b;
  }
}

template <Metric M>
void scan_rows(const float* query, const float* rows, const idx_t* row_ids, idx_t n, int d,
               float radius, const IDSelector* sel, std::vector<RangeHit>& hits) {
  for (idx_t j = 0; j < n; ++j) {
    const float* r = rows + j * d;
    float acc = 0.0f;
    if constexpr (detail::kIsL2<M>) {
      for (int c = 0; c < d; ++c) {
        const float diff = query[c] - r[c];
        acc += diff * diff;
      }
    } else {
      for (int c = 0; c < d; ++c) acc += query[c] * r[c];
    }
    if (!ranks_before<M>(acc, radius)) continue;
    if (sel && !sel->is_member(row_ids[j])) continue;
    hits.push_back({acc, row_ids[j]});
  }
}

}  // namespace

void range_scan_rows(const float* query, const float* rows, const idx_t* row_ids, idx_t n, int d,
                     Metric metric, float radius, const IDSelector* sel,
                     std::vector<RangeHit>& hits) {
  detail::dispatch_metric(metric, [&](auto m) {
    scan_rows<decltype(m)::value>(query, rows, row_ids, n, d, radius, sel, hits);
  });
}

void append_scores_within(const float* scores, idx_t n, const idx_t* ids, Metric metric,
                          float radius, const IDSelector* sel, std::vector<RangeHit>& hits) {
  const bool l2 = metric == Metric::L2;
  for (idx_t j = 0; j < n; ++j) {
    const float dist = l2 ? scores[j] : -scores[j];
    if (!(l2 ? dist < radius : dist > radius)) continue;
    if (sel && !sel->is_member(ids[j])) continue;
    hits.push_back({dist, ids[j]});
  }
}

RangeSearchResult range_search_by_query(
    idx_t nq, Metric metric, int num_threads,
    const std::function<void(idx_t q, std::vector<RangeHit>& hits)>& scan_query) {
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
          detail::dispatch_metric(metric, [&](auto m) {
            std::sort(hits.begin(), hits.end(), [](const RangeHit& a, const RangeHit& b) {
              if (a.distance != b.distance) {
                return ranks_before<decltype(m)::value>(a.distance, b.distance);
              }
              return a.label < b.label;
            });
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
