// cuda/common/distance.cuh — per-lane distance accumulation and warp reductions shared by the
// scan kernels (flat and IVF).
#pragma once

namespace knnx::cuda {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

// acc + |x - q|^2 (kL2) or acc + <x, q>, over one float4.
template <bool kL2>
__device__ __forceinline__ float accumulate(float acc, float4 x, float4 q) {
  if constexpr (kL2) {
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

}  // namespace knnx::cuda
