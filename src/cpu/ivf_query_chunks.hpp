// cpu/ivf_query_chunks.hpp — the search loop of the compressed IVF indexes on the CPU (IVF-SQ,
// IVF-PQ): queries in chunks, and the thread that takes a chunk picks its probes (a coarse
// flat_search over the centroids on that thread alone) and scans them, all in one parallel
// region.
//
// Why one region of dynamically taken chunks rather than a parallel coarse search followed by a
// parallel scan: every region ends in a barrier that waits for its slowest thread, and where the
// cores are shared with other work a thread that loses its core holds the whole team for a
// scheduler time slice. At low nprobe the scan is as short as the coarse search, so those waits
// were most of the search time (bench/NOTES.md, "IVF-SQ8 and IVF-PQ at low nprobe"); with one
// region there is one barrier, and the other threads take the chunks a stalled thread would
// have done.
#pragma once

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <vector>

#include "core/parallel_errors.hpp"
#include "core/search_knobs.hpp"
#include "cpu/flat_search.hpp"
#include "knnx/error.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

// The coarse quantizer of an IVF index: n_lists centroids (row-major, dim floats) and their
// squared norms. Null centroids: a single list, every query probes list 0 at distance 0.
struct CoarseCentroids {
  const float* centroids;
  const float* norms;
  int n_lists;
  int dim;
  Metric metric;
};

// Queries per chunk: about eight chunks per thread so that the threads even out, at most 256
// so that a chunk's coarse tile stays small (256 x n_lists floats).
inline idx_t ivf_query_chunk(idx_t nq, int threads) {
  const idx_t per = (nq + 8 * static_cast<idx_t>(threads) - 1) / (8 * static_cast<idx_t>(threads));
  return std::clamp<idx_t>(per, 1, 256);
}

// Calls scan(thread, q, probed, probe_dist) for every query q in [0, nq) (queries: nq x dim):
// probed[0..n_probe) are q's lists best first (-1 where there are fewer), probe_dist their
// coarse scores (flat_search's distances: L2 squared, inner products as products). thread, in
// [0, threads), is the calling thread's number, for per-thread scratch the caller holds. The
// first exception thrown by scan (or by the coarse search) is rethrown after the region, naming
// `what` when memory ran out.
template <typename Scan>
void probe_and_scan(const CoarseCentroids& coarse, const float* queries, idx_t nq, int n_probe,
                    const detail::SearchKnobs& knobs, int threads, const char* what,
                    const Scan& scan) {
  if (nq <= 0) return;
  const idx_t chunk = ivf_query_chunk(nq, threads);
  const idx_t n_chunks = (nq + chunk - 1) / chunk;
  const int team = static_cast<int>(std::clamp<idx_t>(n_chunks, 1, threads));
  const std::size_t per_chunk = static_cast<std::size_t>(chunk) * static_cast<std::size_t>(n_probe);
  std::vector<std::vector<idx_t>> probes;
  std::vector<std::vector<float>> dists;
  try {
    probes.assign(static_cast<std::size_t>(team), std::vector<idx_t>(per_chunk, 0));
    dists.assign(static_cast<std::size_t>(team), std::vector<float>(per_chunk, 0.0f));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("{}: cannot allocate the probes of {} threads x {} queries x {}",
                                  what, team, chunk, n_probe));
  }
  FlatSearchParams params = flat_search_params(knobs);
  params.num_threads = 1;  // the coarse search of a chunk runs on the thread that took it
  detail::ParallelErrors errors;
#pragma omp parallel num_threads(team) if (team > 1)
  {
    omp_set_num_threads(1);  // sgemm on this thread alone, also in a team of one
    const int t = omp_get_thread_num();
    idx_t* probed = probes[static_cast<std::size_t>(t)].data();
    float* dist = dists[static_cast<std::size_t>(t)].data();
#pragma omp for schedule(dynamic, 1)
    for (idx_t c = 0; c < n_chunks; ++c)
      errors.run([&] {
        const idx_t q0 = c * chunk;
        const idx_t qn = std::min(chunk, nq - q0);
        const float* qs = queries + q0 * coarse.dim;
        if (coarse.centroids != nullptr) {
          flat_search(coarse.centroids, coarse.norms, coarse.n_lists, coarse.dim, coarse.metric, qs,
                      qn, n_probe, dist, probed, params);
        }
        for (idx_t i = 0; i < qn; ++i) {
          scan(t, q0 + i, probed + i * n_probe, dist + i * n_probe);
        }
      });
  }
  errors.rethrow(what);
}

}  // namespace knnx::cpu
