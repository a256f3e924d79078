// cuda/sq/sq_kernels.hpp — launchers of the scalar-quantizer scans of IndexScalarQuantizer and
// IndexIVFScalarQuantizer on a GPU: k-nearest (fused block selection) and range search.
//
// Codes are stored in rows of code_words 32-bit words (code_size bytes rounded up to a multiple
// of 4) in a DeviceListArena. A scan's unit of work is an item: one query, one probed list and a
// chunk of that list's rows (IndexScalarQuantizer: one list cut into chunks; IndexIVF...: one
// chunk per probed list). Each thread decodes a row's components on the fly and scores it with
// the per-component tables a_j, b_j (the decoded value of code c is a_j + b_j c for 8- and 4-bit
// codes; a = 0, b = 1 and c the half / bfloat16 value otherwise), in the arithmetic of the CPU
// scanner (cpu/sq_scan.hpp):
//   L2:  sum_j ((r_j - a_j) - b_j c_j)^2, r = the query (minus the list centroid with residual
//        codes);
//   inner product: -((offset + sum_j q_j a_j) + sum_j (q_j b_j) c_j), offset = <q, centroid>
//        with residual codes (summed on the fly, as the other sums), else 0.
// Scores are minimised (inner products negated).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/common/range_output.hpp"
#include "knnx/metric.hpp"
#include "knnx/scalar_quantizer.hpp"

namespace knnx::cuda {

struct SqScanArgs {
  ScalarQuantizer::Type type;
  Metric metric;
  int dim;
  // The arena's rows and lists.
  const std::uint32_t* codes;
  int code_words;
  const std::int64_t* list_sizes;
  const std::int64_t* list_offsets;
  // Per-component tables (dim floats each).
  const float* a;
  const float* b;
  // Staged queries, rows of dp floats.
  const float* queries;
  int dp;
  // Item q * (n_probe * chunks) + p * chunks + c scans chunk c (rows [c * rows_per_chunk, ...))
  // of list probes[q][p] (-1: nothing; probes null: list 0).
  const std::int64_t* probes;
  int n_probe;
  int chunks;
  std::int64_t rows_per_chunk;
  // Residual codes: the centroids (n_lists x dim), which L2 subtracts from the query and whose
  // inner product with the query the inner product adds; null otherwise.
  const float* centroids;
  // Bitmap of the arena rows a filtered search may return (core/admitted_bitmap.hpp), or null.
  const std::uint32_t* allowed;
};

// k-nearest: items [0, n_items) each write their best k (key, arena row) to out[item * k ...]
// for the IVF merge (select/merge_tree.hpp).
void launch_sq_scan(const SqScanArgs& args, std::int64_t n_items, int k, std::uint32_t* out_keys,
                    std::int32_t* out_rows, cudaStream_t stream, bool sync_check);

// Range search (cuda/common/range_emit.cuh) over items [0, n_items): with fill null, adds each
// query's hits to counters[q]; with fill, writes them where *fill says, taking slots from
// counters[q] (zeroed first). Both passes score alike.
void launch_sq_range(const SqScanArgs& args, std::int64_t n_items, float radius, int* counters,
                     const RangeOutput* fill, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
