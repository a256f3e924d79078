// cuda/common/range_emit.cuh — the device side of range search: one warp's 32 scored
// candidates tested against the radius, counted (count pass) or written (fill pass).
//
// Range search runs each kernel twice with the same arithmetic: the count pass adds each
// query's hits into counts[q]; the host turns the counts into offsets and sizes the output;
// the fill pass writes each hit at offsets[q] + a slot taken from cursor[q]. Within a query the
// order is the order of the atomics: the host sorts each query's hits afterwards.
#pragma once

#include <cstdint>

#include "cuda/common/metric_dispatch.hpp"
#include "cuda/common/range_output.hpp"

namespace knnx::cuda {

// Called by all 32 lanes of a warp. score: what the scan kernels minimise (L2 distance or
// negated inner product) of the lane's row; valid: the lane has a candidate row. A hit is a
// squared L2 distance < radius or an inner product > radius (FAISS's semantics). counter is
// query q's count (count pass) or cursor (fill pass).
template <Metric M, bool kFill>
__device__ __forceinline__ void range_emit(bool valid, float score, float radius, std::int64_t row,
                                           int q, int* counter, const RangeOutput& out) {
  const float dist = kIsL2<M> ? score : -score;
  const bool hit = valid && (kIsL2<M> ? dist < radius : dist > radius);
  const unsigned mask = __ballot_sync(0xFFFFFFFFu, hit);
  if (mask == 0) return;  // warp-uniform
  const int lane = threadIdx.x & 31;
  int base = 0;
  if (lane == 0) base = atomicAdd(counter, __popc(mask));
  if constexpr (kFill) {
    base = __shfl_sync(0xFFFFFFFFu, base, 0);
    const int slot = base + __popc(mask & ((1u << lane) - 1u));
    // The fill pass repeats the count pass's arithmetic, so slot < limits[q]; the test only
    // keeps a write inside the query's span whatever happens.
    if (hit && slot < out.limits[q]) {
      const std::int64_t at = out.offsets[q] + slot;
      out.distances[at] = dist;
      out.labels[at] = out.ids ? out.ids[row] : row;
    }
  }
}

}  // namespace knnx::cuda
