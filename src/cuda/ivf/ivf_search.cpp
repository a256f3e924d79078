// The GPU IVF-Flat search, one stage a function. Per batch of queries: coarse_quantize (stage
// the queries, pick their lists), then scan_shared / scan_per_query / scan_unfused (partial
// top-k per query from the probed lists), then merge (final top-k), all queued on one stream.
// For k past the block selection (radix_select.hpp) the scan is the unfused one, writing every
// candidate's score, and the merge is the radix selection over them.
// Every plan a stage needs is made on the host from host-side sizes or on the device from
// device-side data, so nothing is read back before the end: the host waits once per call.
// Range search (range_search_ivf) shares stage 1 and then counts and fills each chunk's hits,
// waiting for the counts before it sizes the output.
#include "cuda/ivf/ivf_search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <functional>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "core/workspace.hpp"
#include "cuda/common/range_collect.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/search_results.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/runtime/workspace.hpp"
#include "cuda/select/final_merge.hpp"
#include "cuda/select/merge_tree.hpp"
#include "cuda/select/radix_select.hpp"

namespace knnx::cuda {
namespace {

// How the probed lists are scanned: list-major with the candidates shared by the queries
// probing a list (many queries per list, k <= kSharedMaxK), fused scan + select per query,
// or the unfused baseline (every candidate's score written, then selected).
enum class ScanKind { Shared, PerQuery, Unfused };

// Stage 2's output: per query, per_query partial (key, arena row) results; or, with `merged`,
// nothing left to merge: the scan wrote the final results itself.
struct Partials {
  DeviceBuffer<std::uint32_t> keys;
  DeviceBuffer<std::int32_t> rows;
  int per_query;
  bool merged = false;
};

// Where a batch's final results go ([nq][k] device arrays), for a scan that merges its own.
struct Results {
  float* distances;
  std::int64_t* labels;
};

// k past the block selection: every candidate's score is written (the unfused scan) and the
// radix selection keeps the best k (merge).
bool radix(int k, const detail::SearchKnobs& knobs) {
  return use_radix_select(k, knobs.gpu_radix_min_k);
}

// Queries probing a list, on average, from which the list-major scan is chosen: it reads each
// probed list once per group of queries, where the per-query scan reads it once per query (and
// gives one block all of a query's rows of a long list). At 2 the per-query scan already reads
// twice the bytes; below it the shared scan's 16-query register tile is mostly empty slots.
constexpr double kSharedMinQueriesPerList = 2.0;

ScanKind choose_scan(const IvfLists& L, idx_t nq, int k, int n_probe,
                     const detail::SearchKnobs& knobs) {
  if (!knobs.ivf_fused || radix(k, knobs)) return ScanKind::Unfused;
  const double queries_per_list = double(nq) * n_probe / L.n_lists;
  const bool shared = k <= kSharedMaxK &&
                      (knobs.ivf_shared == 1 ||
                       (knobs.ivf_shared == -1 && queries_per_list >= kSharedMinQueriesPerList));
  return shared ? ScanKind::Shared : ScanKind::PerQuery;
}

// No query has more candidates than the n_probe largest lists hold.
idx_t max_candidates(const IvfLists& L, int n_probe) {
  std::vector<idx_t> sorted(L.host_sizes.begin(), L.host_sizes.end());
  std::partial_sort(sorted.begin(), sorted.begin() + n_probe, sorted.end(), std::greater<>());
  return std::max<idx_t>(1, std::accumulate(sorted.begin(), sorted.begin() + n_probe, idx_t(0)));
}

// Per-query scan of nq queries: long candidate lists are split below the knob's bound so that
// there are enough blocks to fill the device.
struct PerQuerySplit {
  int rows_per_chunk;
  int chunks;
};
PerQuerySplit per_query_split(const IvfLists& L, idx_t nq, idx_t max_cand,
                              const detail::SearchKnobs& knobs) {
  const int sms = device_properties(L.device).multiProcessorCount;
  const idx_t want_chunks = std::max<idx_t>(1, (4LL * sms + nq - 1) / nq);
  const int rows_per_chunk = static_cast<int>(
      std::clamp<idx_t>((max_cand + want_chunks - 1) / want_chunks, 256, knobs.ivf_rows_per_chunk));
  return {rows_per_chunk, static_cast<int>((max_cand + rows_per_chunk - 1) / rows_per_chunk)};
}

// Most pieces the shared scan's plan cuts a list into (pieces have at least 256 rows).
int shared_chunks_bound(const IvfLists& L) {
  const idx_t longest = *std::max_element(L.host_sizes.begin(), L.host_sizes.end());
  return static_cast<int>(std::max<idx_t>(1, (longest + 255) / 256));
}

// Device bytes a batch of nq queries holds besides the results: the staged queries, their
// probes and coarse distances, and the scan's partial results with the first level of their
// merge tree (at most an eighth more). The coarse search bounds its own scratch by the same
// workspace and frees it before the scan allocates.
std::int64_t batch_bytes(const IvfLists& L, idx_t nq, int k, int n_probe, ScanKind scan,
                         idx_t max_cand, const detail::SearchKnobs& knobs) {
  const std::int64_t staged = nq * (static_cast<std::int64_t>(L.dp) * 4 + n_probe * 12);
  std::int64_t partials = 0;
  std::int64_t other = 0;
  switch (scan) {
    case ScanKind::Shared:
      // One k-list per (query, probe) and piece of its list: at least one piece (the scan cuts
      // lists into as many as what is left of the workspace holds). Besides: the list-major
      // pairs, the query norms, the per-list plan arrays and the work items.
      partials = nq * n_probe * static_cast<std::int64_t>(k) * 8;
      other = nq * (n_probe * 4 + 4) + 16LL * (L.n_lists + 1) +
              16 * shared_scan_shape(nq * n_probe, device_properties(L.device).multiProcessorCount,
                                     knobs.ivf_rows_per_chunk, shared_chunks_bound(L),
                                     L.host_sizes.data(), L.n_lists)
                       .max_items;
      break;
    case ScanKind::PerQuery:
      partials =
          nq * static_cast<std::int64_t>(per_query_split(L, nq, max_cand, knobs).chunks) * k * 8;
      other = nq * (n_probe + 1) * 4;
      break;
    case ScanKind::Unfused:
      partials = nq * max_cand * 8;
      other = nq * (n_probe + 1) * 4;
      if (radix(k, knobs)) other += select_large_k_bytes(nq, max_cand, k);
      break;
  }
  return staged + partials + partials / 8 + other;
}

// Queries per batch: all nq when their scratch fits the workspace, else the most that fit
// (at least one; an explicit bound too small for one query is refused, naming what it needs).
idx_t query_batch(const IvfLists& L, idx_t nq, int k, int n_probe, ScanKind scan, idx_t max_cand,
                  const detail::SearchKnobs& knobs) {
  const std::int64_t workspace = knobs.workspace_bytes;
  idx_t batch = nq;
  // The radix selection sorts the batch's kept entries in one call of 32-bit size.
  if (radix(k, knobs))
    batch = std::min<idx_t>(batch, (INT32_MAX - 1) / std::min<idx_t>(k, max_cand));
  // Per-query bytes grow as a batch shrinks (more pieces per query), so shrink until it fits.
  while (batch > 1) {
    const std::int64_t bytes = batch_bytes(L, batch, k, n_probe, scan, max_cand, knobs);
    if (bytes <= workspace) break;
    const idx_t fit = static_cast<idx_t>(static_cast<double>(workspace) / bytes * batch);
    batch = std::clamp<idx_t>(fit, 1, batch - 1);
  }
  if (batch == 1) {
    const std::string what = fmt::format(
        "a GPU IVF search of k = {}, nprobe = {} ({} candidates at most)", k, n_probe, max_cand);
    detail::queries_per_batch(1, 0, batch_bytes(L, 1, k, n_probe, scan, max_cand, knobs),
                              detail::workspace_bound(knobs), what.c_str());
  }
  return batch;
}

// The knobs of a batch's coarse search: the workspace less what the batch's staged queries and
// probes hold while it runs (at least the smallest bound).
detail::SearchKnobs coarse_knobs(const IvfLists& L, idx_t bq, int n_probe,
                                 const detail::SearchKnobs& knobs) {
  detail::SearchKnobs coarse = knobs;
  const std::int64_t staged = bq * (static_cast<std::int64_t>(L.dp) * 4 + n_probe * 12);
  coarse.workspace_bytes =
      std::max<std::int64_t>(knobs.workspace_bytes - staged, detail::kMinWorkspaceBytes);
  return coarse;
}

// Stage 1 of IVF-Flat's search (coarse_quantize in ivf_search.hpp) on L's centroids.
ProbedQueries coarse_quantize(const IvfLists& L, StreamContext& ctx, const float* queries, int nq,
                              int n_probe, const detail::SearchKnobs& knobs, bool flag_queries) {
  return cuda::coarse_quantize(*L.coarse, L.dim, L.dp, ctx, queries, nq, n_probe,
                               coarse_knobs(L, nq, n_probe, knobs), flag_queries);
}

// Stage 2, list-major: each probed list is read once per group of queries that probe it. The
// probes are turned list-major and the work items (per group of queries probing a list and per
// piece of a long list, so that neither a list many queries probe nor a long list holds up the
// scan in one block) are listed on the device, cut as the host chose (shared_scan_shape).
Partials scan_shared(const IvfLists& L, StreamContext& ctx, const ProbedQueries& p, int k,
                     const detail::SearchKnobs& knobs) {
  const cudaStream_t s = ctx.stream();
  const bool sync = knobs.sync_check;
  const int nq = p.nq, n_probe = p.n_probe;
  const std::size_t slots = static_cast<std::size_t>(nq) * n_probe;
  const std::size_t lists1 = static_cast<std::size_t>(L.n_lists) + 1;
  DeviceBuffer<int> counts(lists1, s);  // then the plan's items per list
  DeviceBuffer<int> starts(lists1, s);
  DeviceBuffer<int> cursor(lists1 - 1, s);
  DeviceBuffer<int> item_starts(lists1, s);
  DeviceBuffer<int> pairs(slots, s);
  DeviceBuffer<int> n_items(1, s);
  const std::size_t temp_bytes = list_major_scan_temp_bytes(L.n_lists);
  DeviceBuffer<unsigned char> temp(temp_bytes, s);
  build_list_major(p.lists.data(), nq, n_probe, L.n_lists, counts.data(), starts.data(),
                   cursor.data(), pairs.data(), temp.data(), temp_bytes, s, sync);
  DeviceBuffer<float> qnorms(static_cast<std::size_t>(nq), s);
  launch_row_norms(p.queries.data(), nq, L.dp, qnorms.data(), s, sync);
  // Pieces are bounded so that pieces x partials fit what the batch leaves of the workspace.
  const std::int64_t per_chunk = static_cast<std::int64_t>(slots) * k * 9;
  const std::int64_t left =
      knobs.workspace_bytes - nq * (static_cast<std::int64_t>(L.dp) * 4 + n_probe * 16 + 4);
  const int max_chunks = static_cast<int>(std::clamp<std::int64_t>(
      left / std::max<std::int64_t>(per_chunk, 1), 1, shared_chunks_bound(L)));
  const SharedScanShape shape = shared_scan_shape(
      static_cast<std::int64_t>(slots), device_properties(L.device).multiProcessorCount,
      knobs.ivf_rows_per_chunk, max_chunks, L.host_sizes.data(), L.n_lists);
  DeviceBuffer<SharedScanItem> items(
      static_cast<std::size_t>(std::max<std::int64_t>(shape.max_items, 1)), s);
  plan_shared_scan(starts.data(), L.sizes, L.n_lists, shape, counts.data(), item_starts.data(),
                   items.data(), n_items.data(), temp.data(), temp_bytes, s, sync);
  const std::size_t partials = slots * shape.max_pieces * k;
  Partials out{DeviceBuffer<std::uint32_t>(partials, s), DeviceBuffer<std::int32_t>(partials, s),
               n_probe * shape.max_pieces * k};
  // Partials start empty (key kKeyMax, row -1: all-ones bytes): a list cut into fewer pieces
  // than max_pieces leaves the rest of its slots unwritten.
  KNNX_CUDA_CHECK(cudaMemsetAsync(out.keys.data(), 0xFF, sizeof(std::uint32_t) * partials, s));
  KNNX_CUDA_CHECK(cudaMemsetAsync(out.rows.data(), 0xFF, sizeof(std::int32_t) * partials, s));
  launch_ivf_shared_scan(L.data, L.dp, p.queries.data(), qnorms.data(), n_probe, shape,
                         n_items.data(), items.data(), starts.data(), pairs.data(), L.sizes,
                         L.offsets, L.metric, k, L.allowed, out.keys.data(), out.rows.data(), s,
                         sync);
  return out;
}

// Candidate row counts before each probe of each query ([nq][n_probe + 1]).
DeviceBuffer<std::int32_t> probe_prefix(const IvfLists& L, const ProbedQueries& p, cudaStream_t s,
                                        bool sync) {
  DeviceBuffer<std::int32_t> prefix(static_cast<std::size_t>(p.nq) * (p.n_probe + 1), s);
  launch_probe_prefix(p.lists.data(), p.nq, p.n_probe, L.sizes, prefix.data(), s, sync);
  return prefix;
}

// Stage 2, query-major fused scan + select: blocks per query and chunk of its candidates. Up to
// kScanPrefixInBlockMaxProbes probes, each block sums its query's probed list sizes itself (no
// probe_prefix launch or buffer), and when a query's chunks hold few partials
// (kLastBlockMergeMaxEntries) the last of its blocks merges them into `results` (no merge
// launch): one or a few queries take one scan launch.
Partials scan_per_query(const IvfLists& L, StreamContext& ctx, const ProbedQueries& p, int k,
                        idx_t max_cand, const detail::SearchKnobs& knobs, Results results) {
  const cudaStream_t s = ctx.stream();
  DeviceBuffer<std::int32_t> prefix;
  if (p.n_probe > kScanPrefixInBlockMaxProbes) prefix = probe_prefix(L, p, s, knobs.sync_check);
  const PerQuerySplit split = per_query_split(L, p.nq, max_cand, knobs);
  const std::size_t partials = static_cast<std::size_t>(p.nq) * split.chunks * k;
  Partials out{DeviceBuffer<std::uint32_t>(partials, s), DeviceBuffer<std::int32_t>(partials, s),
               split.chunks * k};
  out.merged = static_cast<std::int64_t>(split.chunks) * k <= kLastBlockMergeMaxEntries &&
               p.nq <= StreamContext::kBlockCounters;
  const FinalMerge final_merge =
      out.merged ? FinalMerge{ctx.block_counters(), L.ids, results.distances, results.labels}
                 : FinalMerge{};
  launch_ivf_scan(L.data, L.dp, p.queries.data(), p.nq, p.lists.data(), prefix.data(), L.sizes,
                  p.n_probe, L.offsets, L.metric, k, split.chunks, split.rows_per_chunk,
                  knobs.ivf_tpb, L.allowed, out.keys.data(), out.rows.data(), final_merge, s,
                  knobs.sync_check);
  return out;
}

// Stage 2, unfused baseline: every candidate's score, selected by the merge.
Partials scan_unfused(const IvfLists& L, StreamContext& ctx, const ProbedQueries& p,
                      idx_t max_cand_rows, const detail::SearchKnobs& knobs) {
  const cudaStream_t s = ctx.stream();
  const DeviceBuffer<std::int32_t> prefix = probe_prefix(L, p, s, knobs.sync_check);
  const int max_cand = static_cast<int>(max_cand_rows);
  const std::size_t partials = static_cast<std::size_t>(p.nq) * max_cand;
  Partials out{DeviceBuffer<std::uint32_t>(partials, s), DeviceBuffer<std::int32_t>(partials, s),
               max_cand};
  launch_ivf_distances(L.data, L.dp, p.queries.data(), p.nq, p.lists.data(), prefix.data(),
                       p.n_probe, L.offsets, L.metric, max_cand, L.allowed, out.keys.data(),
                       out.rows.data(), s, knobs.sync_check);
  return out;
}

// max_cand: max_candidates(L, p.n_probe), computed once a search. results: the batch's final
// results, which a scan may write itself (Partials::merged).
Partials scan_lists(const IvfLists& L, StreamContext& ctx, const ProbedQueries& p, int k,
                    ScanKind scan, idx_t max_cand, const detail::SearchKnobs& knobs,
                    Results results) {
  switch (scan) {
    case ScanKind::Shared:
      return scan_shared(L, ctx, p, k, knobs);
    case ScanKind::PerQuery:
      return scan_per_query(L, ctx, p, k, max_cand, knobs, results);
    case ScanKind::Unfused:
      break;
  }
  return scan_unfused(L, ctx, p, max_cand, knobs);
}

// Stage 3: each query's partials folded into its sorted top-k, arena rows mapped to ids (nothing
// left to do when the scan merged them itself).
void merge(const IvfLists& L, StreamContext& ctx, Partials partials, int nq, int k,
           const detail::SearchKnobs& knobs, float* dist, std::int64_t* lab) {
  if (partials.merged) return;
  if (radix(k, knobs)) {
    select_large_k(partials.keys.data(), partials.rows.data(), nq, partials.per_query,
                   partials.per_query, k, L.metric, nullptr, L.ids, dist, lab, ctx.stream(),
                   knobs.sync_check);
    return;
  }
  merge_partials(std::move(partials.keys), std::move(partials.rows), nq, partials.per_query, k,
                 L.metric, nullptr, L.ids, dist, lab, ctx.stream(), knobs.sync_check);
}

}  // namespace

ProbedQueries coarse_quantize(const detail::FlatBackend& coarse, int dim, int dp,
                              StreamContext& ctx, const float* queries, int nq, int n_probe,
                              const detail::SearchKnobs& knobs, bool flag_queries) {
  const cudaStream_t s = ctx.stream();
  const std::size_t slots = static_cast<std::size_t>(nq) * n_probe;
  ProbedQueries p{nq, n_probe, DeviceBuffer<float>(static_cast<std::size_t>(nq) * dp, s),
                  DeviceBuffer<std::int64_t>(slots, s), DeviceBuffer<float>(slots, s)};
  copy_rows_padded(p.queries.data(), dp, queries, dim, nq, s);
  if (flag_queries) {
    launch_flag_unusable_rows(p.queries.data(), nq, dp, dp, ctx.pinned_flag(), s, knobs.sync_check);
  }
  search_padded_async(coarse, ctx, nq, p.queries.data(), n_probe, knobs, p.distances.data(),
                      p.lists.data());
  return p;
}

void search_ivf(const IvfLists& lists, StreamContext& ctx, idx_t nq, const float* queries, int k,
                float* distances, idx_t* labels, const detail::SearchKnobs& call_knobs) {
  const detail::SearchKnobs knobs = with_workspace(call_knobs, lists.device);
  const int n_probe = std::clamp(knobs.nprobe, 1, lists.n_lists);
  const bool queries_on_device = is_device_pointer(queries);
  const bool checked_on_host =
      !queries_on_device && nq * static_cast<std::int64_t>(lists.dim) <= kHostCheckMaxValues;
  if (checked_on_host) detail::check_vectors_host(nq, lists.dim, queries, "queries");
  const ScanKind scan = choose_scan(lists, nq, k, n_probe, knobs);
  // A sort of the list sizes on the host: once a search, not once a stage.
  const idx_t max_cand = max_candidates(lists, n_probe);
  const idx_t batch = query_batch(lists, nq, k, n_probe, scan, max_cand, knobs);
  // Below the radix selection, the results are written by the scan's last blocks or by
  // merge_partials, kernels alone: small host results go straight to the pinned buffer.
  const SearchResults results(distances, labels, nq, k, batch, knobs.workspace_bytes, ctx.stream(),
                              radix(k, knobs) ? nullptr : ctx.pinned_results());
  volatile unsigned long long* bad = ctx.pinned_flag();
  *bad = 0;
  for (idx_t q0 = 0; q0 < nq; q0 += batch) {
    const int bq = static_cast<int>(std::min(batch, nq - q0));
    const ProbedQueries probed =
        coarse_quantize(lists, ctx, queries + q0 * lists.dim, bq, n_probe, knobs, !checked_on_host);
    Partials partials = scan_lists(lists, ctx, probed, k, scan, max_cand, knobs,
                                   {results.distances(q0), results.labels(q0)});
    merge(lists, ctx, std::move(partials), bq, k, knobs, results.distances(q0), results.labels(q0));
    results.batch_done(q0, bq, ctx.stream());
  }
  results.finish_and_wait(ctx);
  detail::require_not_flagged(*bad, !queries_on_device, nq, lists.dim, queries, "queries");
}

RangeSearchResult range_search_ivf(const IvfLists& lists, StreamContext& ctx, idx_t nq,
                                   const float* queries, float radius,
                                   const detail::SearchKnobs& call_knobs) {
  const detail::SearchKnobs knobs = with_workspace(call_knobs, lists.device);
  const cudaStream_t s = ctx.stream();
  const bool sync = knobs.sync_check;
  const int n_probe = std::clamp(knobs.nprobe, 1, lists.n_lists);
  RangeSearchResult result;
  result.lims.assign(static_cast<std::size_t>(nq) + 1, 0);
  // Queries per chunk: their staged copies, probes and coarse distances within an eighth of
  // the workspace.
  const std::int64_t per_query = static_cast<std::int64_t>(lists.dp) * 4 + n_probe * 24 + 8;
  const idx_t chunk = std::clamp<idx_t>(knobs.workspace_bytes / 8 / per_query, 1, 65535);
  // Candidates per block: at least 4096, and few enough blocks per query for the grid.
  const idx_t max_cand = max_candidates(lists, n_probe);
  const int rows_per_chunk = static_cast<int>(std::max<idx_t>(4096, (max_cand + 65534) / 65535));
  const int chunks = static_cast<int>((max_cand + rows_per_chunk - 1) / rows_per_chunk);
  volatile unsigned long long* bad = ctx.pinned_flag();
  for (idx_t q0 = 0; q0 < nq; q0 += chunk) {
    const int cq = static_cast<int>(std::min(chunk, nq - q0));
    const float* chunk_queries = queries + q0 * lists.dim;
    *bad = 0;  // the previous chunk's work has finished (collect_range_chunk waits)
    const ProbedQueries p = coarse_quantize(lists, ctx, chunk_queries, cq, n_probe, knobs, true);
    const DeviceBuffer<std::int32_t> prefix = probe_prefix(lists, p, s, sync);
    collect_range_chunk(
        ctx, cq, lists.metric, knobs.workspace_bytes / 2, lists.ids,
        [&](int* counters) {
          launch_ivf_range(lists.data, lists.dp, p.queries.data(), cq, p.lists.data(),
                           prefix.data(), n_probe, lists.offsets, lists.metric, radius, chunks,
                           rows_per_chunk, lists.allowed, counters, nullptr, s, sync);
        },
        [&] {
          detail::require_not_flagged(*bad, !is_device_pointer(chunk_queries), cq, lists.dim,
                                      chunk_queries, "queries");
        },
        [&](int first, int n, int* cursors, const RangeOutput& out) {
          const std::int64_t f = first;
          launch_ivf_range(lists.data, lists.dp, p.queries.data() + f * lists.dp, n,
                           p.lists.data() + f * n_probe, prefix.data() + f * (n_probe + 1), n_probe,
                           lists.offsets, lists.metric, radius, chunks, rows_per_chunk,
                           lists.allowed, cursors, &out, s, sync);
        },
        q0, result);
  }
  return result;
}

}  // namespace knnx::cuda
