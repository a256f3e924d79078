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

#include "cuda/common/range_output.hpp"
#include "cuda/select/final_merge.hpp"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// dst row dpos[i] = src row spos[i] (rows of row_words 32-bit words, plus their ids), for
// i < m (the list arena's maintenance, cuda/ivf/list_arena.hpp).
void launch_move_rows(const std::uint32_t* src, const std::int64_t* src_ids,
                      const std::int64_t* spos, std::uint32_t* dst, std::int64_t* dst_ids,
                      const std::int64_t* dpos, std::int64_t m, int row_words, cudaStream_t stream,
                      bool sync_check);

// probe_prefix[q][0..n_probe] from the probed list numbers ([nq][n_probe], -1 = none) and the
// list sizes.
void launch_probe_prefix(const std::int64_t* probes, int nq, int n_probe,
                         const std::int64_t* list_sizes, std::int32_t* probe_prefix,
                         cudaStream_t stream, bool sync_check);

// Fused scan + select. Block (q, c) scans candidate rows [c*rows_per_chunk, (c+1)*rows_per_chunk)
// of query q, computing exact scores on the fly, and keeps the best k as (key, arena row)
// into out[(q*chunks + c)*k ...]. threads is 128, 256 or 512. probe_prefix may be null when
// n_probe <= kScanPrefixInBlockMaxProbes: each block then sums its query's probed list_sizes
// itself, in shared memory (one launch fewer a search). With final_merge.counters set, the last
// block of each query also folds its chunks' lists into the final results
// (cuda/select/last_block_merge.cuh; chunks * k <= kLastBlockMergeMaxEntries).
//
// Every scan takes `allowed`: null, or a bitmap of arena rows (core/admitted_bitmap.hpp) of
// the entries a filtered search may return; candidates whose bit is clear never enter the
// selection (fewer than k leave empty entries: key kKeyMax, row -1).
inline constexpr int kScanPrefixInBlockMaxProbes = 256;
void launch_ivf_scan(const float* data, int dp, const float* queries, int nq,
                     const std::int64_t* probes, const std::int32_t* probe_prefix,
                     const std::int64_t* list_sizes, int n_probe, const std::int64_t* list_offsets,
                     Metric metric, int k, int chunks, int rows_per_chunk, int threads,
                     const std::uint32_t* allowed, std::uint32_t* out_keys, std::int32_t* out_rows,
                     const FinalMerge& final_merge, cudaStream_t stream, bool sync_check);

// Unfused baseline: writes the score key and arena row of every candidate of query q to
// out[q*max_candidates + i] (-1 rows past the query's candidates); a separate selection follows.
void launch_ivf_distances(const float* data, int dp, const float* queries, int nq,
                          const std::int64_t* probes, const std::int32_t* probe_prefix, int n_probe,
                          const std::int64_t* list_offsets, Metric metric, int max_candidates,
                          const std::uint32_t* allowed, std::uint32_t* out_keys,
                          std::int32_t* out_rows, cudaStream_t stream, bool sync_check);

// Range search over each query's candidates (range_emit.cuh): grid (nq, chunks), block (q, c)
// scoring candidates [c * rows_per_chunk, ...) of query q. With fill null, adds each query's
// hits (candidates within radius whose arena row `allowed`, when not null, admits) to
// counters[q]; with fill, writes them where *fill says, taking slots from counters[q] (zeroed
// first). Both passes score alike.
void launch_ivf_range(const float* data, int dp, const float* queries, int nq,
                      const std::int64_t* probes, const std::int32_t* probe_prefix, int n_probe,
                      const std::int64_t* list_offsets, Metric metric, float radius, int chunks,
                      int rows_per_chunk, const std::uint32_t* allowed, int* counters,
                      const RangeOutput* fill, cudaStream_t stream, bool sync_check);

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

// The shared scan's work items are one block's work each: rows [piece * rows_per_item,
// (piece + 1) * rows_per_item) of a list, for a group of up to 32 of the queries probing it (in
// list-major order), listed list by list, group by group, piece by piece. Long lists are cut
// into pieces because a block's time grows with the rows it scans.
struct SharedScanItem {
  int list;
  int first_query;  // of the group, in the list's list-major queries
  int piece;
  int unused;
};
// The cut, chosen on the host from what it knows before the probes exist (so nothing is read
// back): enough items to fill the device's `sms` multiprocessors many times over were the
// nq * n_probe probes (`slots`) spread over the lists as the data is, at least 256 rows (a piece's
// fixed cost is its final selection) and at most max_rows_per_item (the KNNX_IVF_ROWS_PER_CHUNK
// knob), unless cutting the longest list into max_chunks pieces needs longer ones. max_pieces:
// the most pieces a list has; max_items: a bound on the number of items.
struct SharedScanShape {
  int rows_per_item = 0;
  int max_pieces = 1;
  std::int64_t max_items = 0;
};
SharedScanShape shared_scan_shape(std::int64_t slots, int sms, int max_rows_per_item,
                                  int max_chunks, const std::int64_t* list_sizes, int n_lists);
// Lists the items of the probes in list-major form (starts[0..n_lists], build_list_major) on
// the device: items[0 .. *n_items), *n_items <= shape.max_items (the size of items).
// item_counts and item_starts have n_lists + 1 entries of scratch; scan_temp is CUB scratch of
// list_major_scan_temp_bytes(n_lists) bytes (build_list_major's may be reused).
void plan_shared_scan(const int* starts, const std::int64_t* list_sizes, int n_lists,
                      const SharedScanShape& shape, int* item_counts, int* item_starts,
                      SharedScanItem* items, int* n_items, void* scan_temp,
                      std::size_t scan_temp_bytes, cudaStream_t stream, bool sync_check);
// Scans every listed item (a grid of shape.max_items blocks, those past *n_items idle) and
// writes each (query q, slot)'s best k (keys, arena rows) from piece p of its list to
// out[((q * n_probe + slot) * shape.max_pieces + p) * k ...]; the slots of pieces a list does
// not have are not written, hence the caller fills out with kKeyMax / -1 first (the merge reads
// n_probe * max_pieces * k entries a query). qnorms: squared norms of the queries (read for L2
// only).
void launch_ivf_shared_scan(const float* data, int dp, const float* queries, const float* qnorms,
                            int n_probe, const SharedScanShape& shape, const int* n_items,
                            const SharedScanItem* items, const int* starts, const int* pairs,
                            const std::int64_t* list_sizes, const std::int64_t* list_offsets,
                            Metric metric, int k, const std::uint32_t* allowed,
                            std::uint32_t* out_keys, std::int32_t* out_rows, cudaStream_t stream,
                            bool sync_check);

}  // namespace knnx::cuda
