// cuda/select/last_block_merge.cuh — the final merge of a scan's partial results done by the
// scan kernel itself: the last of a query's blocks to finish folds the query's partial lists
// into its sorted top-k, so a search of few queries needs no merge launch.
#pragma once

#include <cstdint>

#include "cuda/select/block_select.cuh"
#include "cuda/select/block_select_store.cuh"
#include "cuda/select/final_merge.hpp"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// Called by every thread of each of query `query`'s `parts` blocks (grid (nq, parts)) after the
// block has stored its partial list (k entries) among the query's parts * k entries of the
// [nq][parts][k] lists keys / rows, when out.counters is set (else it returns). The last block
// to arrive (counted in out.counters[query], which it sets back to 0) reads them all and writes
// the query's sorted final results to out (distances per metric, rows mapped through out.ids
// when not null), like merge_partials. smem: select_smem_bytes(k, kRound) bytes the block no
// longer uses. kReadAhead (kRound must then be blockDim.x): each thread reads its entry of the
// next round before offering this round's.
template <int kRound, bool kReadAhead = false>
__device__ inline void merge_if_last_block(unsigned char* smem, int k, int query, int parts,
                                           const std::uint32_t* all_keys,
                                           const std::int32_t* all_rows, Metric metric,
                                           const FinalMerge& out) {
  if (out.counters == nullptr) return;
  int* counter = out.counters + query;
  const std::int64_t first = static_cast<std::int64_t>(query) * parts * k;
  const std::uint32_t* keys = all_keys + first;
  const std::int32_t* rows = all_rows + first;
  __shared__ int is_last;
  __threadfence();  // this block's partial list is visible device-wide before it is counted
  __syncthreads();
  if (threadIdx.x == 0) {
    is_last = atomicAdd(counter, 1) == parts - 1;
    if (is_last) *counter = 0;  // every block of the query has counted: ready for the next kernel
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  BlockSelect sel(smem, k, kRound);
  sel.init();
  const int n = parts * k;
  // The entries were written by other blocks of this kernel: read through L2 (__ldcg), never
  // the non-coherent read-only path.
  if constexpr (kReadAhead) {
    // Entry j of a round is thread j's, read a round ahead: the next round's reads are in
    // flight while this round's entries are offered, so the rounds do not wait on L2 in turn.
    int j = static_cast<int>(threadIdx.x);
    std::int32_t row = j < n ? __ldcg(rows + j) : -1;
    std::uint32_t key = j < n ? __ldcg(keys + j) : kKeyMax;
    for (int j0 = 0; j0 < n; j0 += kRound) {
      sel.begin_round(kRound);
      j += kRound;
      const std::int32_t next_row = j < n ? __ldcg(rows + j) : -1;
      const std::uint32_t next_key = j < n ? __ldcg(keys + j) : kKeyMax;
      sel.offer(row >= 0, key, row);
      row = next_row;
      key = next_key;
    }
  } else {
    for (int j0 = 0; j0 < n; j0 += kRound) {
      sel.begin_round(kRound);
      for (int j = j0 + static_cast<int>(threadIdx.x); j < j0 + kRound; j += blockDim.x) {
        const bool in = j < n;
        const std::int32_t row = in ? __ldcg(rows + j) : -1;
        sel.offer(row >= 0, in ? __ldcg(keys + j) : kKeyMax, row);
      }
    }
  }
  sel.finish();
  sel.sort();
  const std::int64_t result = static_cast<std::int64_t>(query) * k;
  store_final(sel, k, metric, 0.0f, false, out.ids, out.distances + result, out.labels + result);
}

}  // namespace knnx::cuda
