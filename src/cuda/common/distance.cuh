// cuda/common/distance.cuh — per-lane distance accumulation and warp reductions shared by the
// scan kernels (flat and IVF).
#pragma once

#include <cstdint>

#include "cuda/common/metric_dispatch.hpp"

namespace knnx::cuda {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

// acc + |x - q|^2 (L2) or acc + <x, q> (inner product), over one float4.
template <Metric M>
__device__ __forceinline__ float accumulate(float acc, float4 x, float4 q) {
  if constexpr (kIsL2<M>) {
    const float a = x.x - q.x, b = x.y - q.y, c = x.z - q.z, d = x.w - q.w;
    acc = fmaf(a, a, acc);
    acc = fmaf(b, b, acc);
    acc = fmaf(c, c, acc);
    return fmaf(d, d, acc);
  } else {
    acc = fmaf(x.x, q.x, acc);
    acc = fmaf(x.y, q.y, acc);
    acc = fmaf(x.z, q.z, acc);
    return fmaf(x.w, q.w, acc);
  }
}

// Scores of 32 rows against q: row_of(j) gives the row lane j's result belongs to (-1 = none);
// each row is read by the whole warp (16-byte loads, four rows in flight) and lane j returns
// row_of(j)'s score. Scores are what the selection minimises: L2 distances, or negated inner
// products.
template <Metric M, typename RowOf>
__device__ __forceinline__ float warp_scores(const float4* __restrict__ data, int dp4,
                                             const float4* __restrict__ q, RowOf row_of) {
  const int lane = threadIdx.x & 31;
  float mine = 0.0f;
#pragma unroll 2
  for (int rr = 0; rr < 32; rr += 4) {
    std::int64_t r[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) r[u] = row_of(rr + u);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = lane; i < dp4; i += 32) {
      const float4 qq = __ldg(q + i);
      float4 x[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        x[u] = r[u] >= 0 ? __ldg(data + r[u] * dp4 + i) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) acc[u] = accumulate<M>(acc[u], x[u], qq);
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const float s = warp_sum(acc[u]);
      if (lane == rr + u) mine = s;
    }
  }
  return kIsL2<M> ? mine : -mine;
}

}  // namespace knnx::cuda
