// cuda/select/block_select_store.cuh — writing a BlockSelect's results: partial (key, row)
// lists for a later merge, or final (distance, id) results.
#pragma once

#include <cstdint>

#include "cuda/select/block_select.cuh"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// Writes a block's kept entries to out[0..k), padding with (kKeyMax, -1).
__device__ inline void store_partial(const BlockSelect& sel, int k, std::uint32_t* keys,
                              std::int32_t* rows) {
  const int count = sel.count();
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    keys[i] = i < count ? sel.key(i) : kKeyMax;
    rows[i] = i < count ? sel.index(i) : -1;
  }
}

// Writes sorted final results: distances (per the metric) and ids.
__device__ inline void store_final(const BlockSelect& sel, int k, Metric metric, float qnorm,
                                   bool add_qnorm, const std::int64_t* ids, float* distances,
                                   std::int64_t* labels) {
  const int count = sel.count();
  const bool l2 = metric == Metric::L2;
  const float pad = l2 ? __int_as_float(0x7F800000) : __int_as_float(0xFF800000);
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    if (i < count) {
      const float v = key_to_float(sel.key(i));
      const std::int32_t row = sel.index(i);
      distances[i] = l2 ? (add_qnorm ? fmaxf(v + qnorm, 0.0f) : v) : -v;
      labels[i] = ids ? ids[row] : static_cast<std::int64_t>(row);
    } else {
      distances[i] = pad;
      labels[i] = -1;
    }
  }
}

}  // namespace knnx::cuda
