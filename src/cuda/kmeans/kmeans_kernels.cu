// GPU k-means kernels.
#include "cuda/kmeans/kmeans_kernels.hpp"

#include <cub/device/device_scan.cuh>

#include <algorithm>

#include "cuda/common/distance.cuh"
#include "cuda/runtime/check.hpp"

namespace knnx::cuda {
namespace {

// One warp per row: each lane adds its float4 slices into the row's cluster sum.
__global__ void centroid_sums_kernel(const float4* __restrict__ x, std::int64_t n, int dp4,
                                     const std::int64_t* __restrict__ labels,
                                     float* __restrict__ sums, int* __restrict__ counts) {
  const int lane = threadIdx.x & 31;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) +
                        (threadIdx.x >> 5);
       i < n; i += warps) {
    const std::int64_t c = labels[i];
    float* s = sums + c * dp4 * 4;
    for (int j = lane; j < dp4; j += 32) {
      const float4 v = x[i * dp4 + j];
      atomicAdd(s + 4 * j + 0, v.x);
      atomicAdd(s + 4 * j + 1, v.y);
      atomicAdd(s + 4 * j + 2, v.z);
      atomicAdd(s + 4 * j + 3, v.w);
    }
    if (lane == 0) atomicAdd(counts + c, 1);
  }
}

// One warp per centroid.
__global__ void centroid_means_kernel(const float* __restrict__ sums,
                                      const int* __restrict__ counts, int k, int dp,
                                      bool spherical, float* __restrict__ centroids) {
  const int lane = threadIdx.x & 31;
  const int c = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (c >= k || counts[c] == 0) return;
  const float inv = 1.0f / static_cast<float>(counts[c]);
  float norm2 = 0.0f;
  for (int j = lane; j < dp; j += 32) {
    const float v = sums[static_cast<std::int64_t>(c) * dp + j] * inv;
    centroids[static_cast<std::int64_t>(c) * dp + j] = v;
    norm2 = fmaf(v, v, norm2);
  }
  if (!spherical) return;
  norm2 = warp_sum(norm2);
  if (norm2 <= 0.0f) return;
  const float scale = rsqrtf(norm2);
  for (int j = lane; j < dp; j += 32) centroids[static_cast<std::int64_t>(c) * dp + j] *= scale;
}

__global__ void sum_kernel(const float* __restrict__ v, std::int64_t n, double* out) {
  double local = 0.0;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    local += v[i];
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) local += __shfl_xor_sync(0xFFFFFFFFu, local, off);
  if ((threadIdx.x & 31) == 0) atomicAdd(out, local);
}

__global__ void kmeanspp_update_kernel(const float4* __restrict__ x, std::int64_t n, int dp4,
                                       const std::int64_t* __restrict__ center_index,
                                       float* __restrict__ d2, float4* __restrict__ centroids,
                                       int slot) {
  const int lane = threadIdx.x & 31;
  const std::int64_t ci = *center_index;
  const float4* c = x + ci * dp4;
  if (blockIdx.x == 0 && threadIdx.x < 32) {
    for (int j = lane; j < dp4; j += 32) centroids[static_cast<std::int64_t>(slot) * dp4 + j] = c[j];
  }
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) +
                        (threadIdx.x >> 5);
       i < n; i += warps) {
    float acc = 0.0f;
    for (int j = lane; j < dp4; j += 32)
      acc = accumulate<Metric::L2>(acc, x[i * dp4 + j], __ldg(c + j));
    acc = warp_sum(acc);
    if (lane == 0) d2[i] = fminf(d2[i], acc);
  }
}

__global__ void kmeanspp_draw_kernel(const double* __restrict__ prefix, std::int64_t n, double u,
                                     std::int64_t* center_index) {
  const double target = u * prefix[n - 1];
  std::int64_t lo = 0, hi = n - 1;  // first i with prefix[i] > target
  while (lo < hi) {
    const std::int64_t mid = (lo + hi) >> 1;
    if (prefix[mid] > target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  *center_index = lo;
}

__global__ void widen_kernel(const float* __restrict__ in, std::int64_t n, double* __restrict__ out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i];
}

unsigned blocks_for_rows(std::int64_t n) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>((n + 7) / 8, 8192)));
}

}  // namespace

void launch_centroid_sums(const float* x, std::int64_t n, int dp, const std::int64_t* labels,
                          float* sums, int* counts, cudaStream_t stream, bool sync_check) {
  centroid_sums_kernel<<<blocks_for_rows(n), 256, 0, stream>>>(
      reinterpret_cast<const float4*>(x), n, dp / 4, labels, sums, counts);
  KNNX_CHECK_LAUNCH(stream, sync_check, "centroid_sums_kernel");
}

void launch_centroid_means(const float* sums, const int* counts, int k, int dp, bool spherical,
                           float* centroids, cudaStream_t stream, bool sync_check) {
  centroid_means_kernel<<<static_cast<unsigned>((k + 7) / 8), 256, 0, stream>>>(
      sums, counts, k, dp, spherical, centroids);
  KNNX_CHECK_LAUNCH(stream, sync_check, "centroid_means_kernel");
}

void launch_sum(const float* v, std::int64_t n, double* out, cudaStream_t stream,
                bool sync_check) {
  KNNX_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream));
  const unsigned blocks =
      static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>((n + 255) / 256, 1024)));
  sum_kernel<<<blocks, 256, 0, stream>>>(v, n, out);
  KNNX_CHECK_LAUNCH(stream, sync_check, "sum_kernel");
}

void launch_kmeanspp_update(const float* x, std::int64_t n, int dp,
                            const std::int64_t* center_index, float* d2, float* centroids,
                            int slot, cudaStream_t stream, bool sync_check) {
  kmeanspp_update_kernel<<<blocks_for_rows(n), 256, 0, stream>>>(
      reinterpret_cast<const float4*>(x), n, dp / 4, center_index, d2,
      reinterpret_cast<float4*>(centroids), slot);
  KNNX_CHECK_LAUNCH(stream, sync_check, "kmeanspp_update_kernel");
}

std::size_t kmeanspp_scan_temp_bytes(std::int64_t n) {
  std::size_t bytes = 0;
  KNNX_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, bytes, static_cast<double*>(nullptr),
                                                static_cast<double*>(nullptr), n));
  return bytes;
}

void launch_kmeanspp_prefix(const float* d2, std::int64_t n, double* w, double* prefix, void* temp,
                            std::size_t temp_bytes, cudaStream_t stream, bool sync_check) {
  widen_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(d2, n, w);
  KNNX_CHECK_LAUNCH(stream, sync_check, "widen_kernel");
  KNNX_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp, temp_bytes, w, prefix, n, stream));
}

void launch_kmeanspp_draw(const double* prefix, std::int64_t n, double u,
                          std::int64_t* center_index, cudaStream_t stream, bool sync_check) {
  kmeanspp_draw_kernel<<<1, 1, 0, stream>>>(prefix, n, u, center_index);
  KNNX_CHECK_LAUNCH(stream, sync_check, "kmeanspp_draw_kernel");
}

}  // namespace knnx::cuda
