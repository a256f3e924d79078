// cuda/ivf/ivf_kernels.hpp — launchers of the IVF-Flat kernels: list storage maintenance,
// probe bookkeeping, and the scans over probed lists (fused scan + select, and the unfused
// distance pass used as its baseline).
//
// Lists live in one arena of padded rows (stride dp, a multiple of 4 floats): list l occupies
// rows [offset[l], offset[l] + size[l]). A query's probed lists, concatenated in probe order,
// form its candidate space; probe_prefix[q][j] is the number of candidate rows before probe j.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "knnx/metric.hpp"

namespace knnx::cuda {

// dst row dpos[i] = src row spos[i] (rows of dp floats, plus their ids), for i < m.
void launch_move_rows(const float* src, const std::int64_t* src_ids, const std::int64_t* spos,
                      float* dst, std::int64_t* dst_ids, const std::int64_t* dpos, std::int64_t m,
                      int dp, cudaStream_t stream, bool sync_check);

// probe_prefix[q][0..n_probe] from the probed list numbers ([nq][n_probe], -1 = none) and the
// list sizes.
void launch_probe_prefix(const std::int64_t* probes, int nq, int n_probe,
                         const std::int64_t* list_sizes, std::int32_t* probe_prefix,
                         cudaStream_t stream, bool sync_check);

// Fused scan + select. Block (q, c) scans candidate rows [c*rows_per_chunk, (c+1)*rows_per_chunk)
// of query q, computing exact scores on the fly, and keeps the best k as (key, arena row)
// into out[(q*chunks + c)*k ...]. threads is 128, 256 or 512.
void launch_ivf_scan(const float* data, int dp, const float* queries, int nq,
                     const std::int64_t* probes, const std::int32_t* probe_prefix, int n_probe,
                     const std::int64_t* list_offsets, Metric metric, int k, int chunks,
                     int rows_per_chunk, int threads, std::uint32_t* out_keys,
                     std::int32_t* out_rows, cudaStream_t stream, bool sync_check);

// Unfused baseline: writes the score key and arena row of every candidate of query q to
// out[q*max_candidates + i] (-1 rows past the query's candidates); a separate selection follows.
void launch_ivf_distances(const float* data, int dp, const float* queries, int nq,
                          const std::int64_t* probes, const std::int32_t* probe_prefix, int n_probe,
                          const std::int64_t* list_offsets, Metric metric, int max_candidates,
                          std::uint32_t* out_keys, std::int32_t* out_rows, cudaStream_t stream,
                          bool sync_check);

// --- Shared-candidates scan (list-major; k <= kSharedMaxK) -----------------------------------
inline constexpr int kSharedMaxK = 32;

// Device bytes of CUB scratch build_list_major needs for n_lists.
std::size_t list_major_scan_temp_bytes(int n_lists);
// Turns the probes ([nq][n_probe]) list-major: starts[0..n_lists] (exclusive prefix of the
// per-list counts) and pairs (q * n_probe + slot, grouped by list). counts has n_lists + 1
// entries, cursor n_lists, pairs nq * n_probe.
void build_list_major(const std::int64_t* probes, int nq, int n_probe, int n_lists, int* counts,
                      int* starts, int* cursor, int* pairs, void* scan_temp,
                      std::size_t scan_temp_bytes, cudaStream_t stream, bool sync_check);
// Shared memory the shared scan needs for rows of dp floats.
std::size_t ivf_shared_smem_bytes(int dp);
// One block's work in the shared scan: rows [row_begin, row_begin + rows_per_item) of `list`,
// for the queries group .. group + 31 of those probing it (in list-major order); the results go
// to partial `chunk` of each of those (query, slot) pairs.
struct SharedScanItem {
  int list;
  int group;
  int row_begin;
  int chunk;
};
struct SharedScanPlan {
  std::vector<SharedScanItem> items;
  int rows_per_item = 0;
  int chunks = 1;  // partials per (query, slot): the most pieces any probed list is cut into
};
// Plans the shared scan from the host copy of starts (n_lists + 1 entries) and the list sizes.
// A block's time grows with the rows it scans, so long lists are cut into pieces of
// rows_per_item rows: enough items to fill the device's `sms` multiprocessors many times over,
// at least 256 rows (a piece's fixed cost is its final selection) and at most
// max_rows_per_item (the KNNX_IVF_ROWS_PER_CHUNK knob) — unless cutting a probed list into
// max_chunks pieces needs longer ones: max_chunks bounds the partial results (a workspace bound).
SharedScanPlan plan_shared_scan(const std::vector<int>& starts,
                                const std::vector<std::int64_t>& list_sizes, int sms,
                                int max_rows_per_item, int max_chunks);
// Scans each planned item and writes each (query q, slot, chunk)'s best k (keys, arena rows) to
// out[((q * n_probe + slot) * chunks + chunk) * k ...]. Partials of a list cut into fewer than
// `chunks` pieces are left untouched: the caller fills out with kKeyMax / -1 first.
// qnorms: squared norms of the queries (read for L2 only). items: the plan's items, device
// memory.
void launch_ivf_shared_scan(const float* data, int dp, const float* queries, const float* qnorms,
                            int n_probe, int n_items, const SharedScanItem* items,
                            int rows_per_item, int chunks, const int* starts, const int* pairs,
                            const std::int64_t* list_sizes, const std::int64_t* list_offsets,
                            Metric metric, int k, std::uint32_t* out_keys, std::int32_t* out_rows,
                            cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
