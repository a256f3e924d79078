// Row utility kernels shared by the backends: norms, padding, gathers, and the check of rows
// for NaN/Inf and the norm bound.
#include <algorithm>

#include "core/check_flags.hpp"
#include "cuda/common/distance.cuh"
#include "cuda/common/row_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {
namespace {

__global__ void row_norms_kernel(const float4* __restrict__ x, std::int64_t n, int dp4,
                                 float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (std::int64_t row =
           static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
       row < n; row += warps) {
    float acc = 0.0f;
    for (int i = lane; i < dp4; i += 32) {
      const float4 v = __ldg(x + row * dp4 + i);
      acc = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, acc))));
    }
    acc = warp_sum(acc);
    if (lane == 0) out[row] = acc;
  }
}

// 2-D grid: x over columns, y (grid-stride) over rows; no division in the loop.
__global__ void pad_rows_kernel(const float* __restrict__ src, std::int64_t n, int d,
                                std::int64_t src_ld, float* __restrict__ dst, int dp) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= dp) return;
  for (std::int64_t row = blockIdx.y; row < n; row += gridDim.y) {
    dst[row * dp + col] = col < d ? src[row * src_ld + col] : 0.0f;
  }
}

__global__ void gather_rows_kernel(const float4* __restrict__ src, int dp4,
                                   const std::int64_t* __restrict__ keep, std::int64_t n_keep,
                                   float4* __restrict__ dst) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= dp4) return;
  for (std::int64_t row = blockIdx.y; row < n_keep; row += gridDim.y) {
    dst[row * dp4 + col] = src[keep[row] * dp4 + col];
  }
}

__global__ void rows_of_ids_kernel(const std::int64_t* __restrict__ ids, std::int64_t count,
                                   const std::int64_t* __restrict__ sorted_ids,
                                   const std::int32_t* __restrict__ row_of_sorted, std::int64_t n,
                                   std::int32_t* __restrict__ rows) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const std::int64_t id = ids[i];
    std::int32_t row = -1;
    if (id >= 0 && sorted_ids == nullptr) {
      if (id < n) row = static_cast<std::int32_t>(id);
    } else if (id >= 0) {
      std::int64_t lo = 0, hi = n;  // first j with sorted_ids[j] >= id
      while (lo < hi) {
        const std::int64_t mid = (lo + hi) / 2;
        if (sorted_ids[mid] < id) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      if (lo < n && sorted_ids[lo] == id) row = row_of_sorted[lo];
    }
    rows[i] = row;
  }
}

// One warp a row: flags a row holding NaN/Inf (1) or whose squared L2 norm, summed in double
// as the host check sums it, is above kMaxSquaredNorm (2). Racing stores of either value are
// benign: any flag fails the call.
__global__ void flag_unusable_rows_kernel(const float* __restrict__ x, std::int64_t n, int d,
                                          std::int64_t ld, unsigned long long* out) {
  const int lane = threadIdx.x & 31;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (std::int64_t row =
           static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
       row < n; row += warps) {
    double sum = 0.0;
    bool finite = true;
    for (int j = lane; j < d; j += 32) {
      const float v = x[row * ld + j];
      finite = finite && isfinite(v);
      sum = fma(static_cast<double>(v), static_cast<double>(v), sum);
    }
    const bool all_finite = __all_sync(0xFFFFFFFFu, finite);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
    if (lane == 0) {
      if (!all_finite) {
        *out = detail::kFlagNonFinite;
      } else if (sum > kMaxSquaredNorm) {
        *out = detail::kFlagAboveNormBound;
      }
    }
  }
}

}  // namespace

void launch_row_norms(const float* x, std::int64_t n, int dp, float* out, cudaStream_t stream,
                      bool sync_check) {
  if (n == 0) return;
  const std::int64_t blocks = std::min<std::int64_t>((n + 7) / 8, 65535);
  row_norms_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(
      reinterpret_cast<const float4*>(x), n, dp / 4, out);
  KNNX_CHECK_LAUNCH(stream, sync_check, "row_norms_kernel");
}

void launch_pad_rows(const float* src, std::int64_t n, int d, std::int64_t src_ld, float* dst,
                     int dp, cudaStream_t stream, bool sync_check) {
  if (n == 0) return;
  const dim3 grid(static_cast<unsigned>((dp + 127) / 128), grid_rows(n));
  pad_rows_kernel<<<grid, 128, 0, stream>>>(src, n, d, src_ld, dst, dp);
  KNNX_CHECK_LAUNCH(stream, sync_check, "pad_rows_kernel");
}

void launch_gather_rows(const float* src, int dp, const std::int64_t* keep, std::int64_t n_keep,
                        float* dst, cudaStream_t stream, bool sync_check) {
  if (n_keep == 0) return;
  const int dp4 = dp / 4;
  const dim3 grid(static_cast<unsigned>((dp4 + 127) / 128), grid_rows(n_keep));
  gather_rows_kernel<<<grid, 128, 0, stream>>>(reinterpret_cast<const float4*>(src), dp4, keep,
                                               n_keep, reinterpret_cast<float4*>(dst));
  KNNX_CHECK_LAUNCH(stream, sync_check, "gather_rows_kernel");
}

void launch_rows_of_ids(const std::int64_t* ids, std::int64_t count, const std::int64_t* sorted_ids,
                        const std::int32_t* row_of_sorted, std::int64_t n, std::int32_t* rows,
                        cudaStream_t stream, bool sync_check) {
  if (count == 0) return;
  const std::int64_t blocks = std::min<std::int64_t>((count + 255) / 256, 4096);
  rows_of_ids_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(ids, count, sorted_ids,
                                                                        row_of_sorted, n, rows);
  KNNX_CHECK_LAUNCH(stream, sync_check, "rows_of_ids_kernel");
}

void launch_flag_unusable_rows(const float* x, std::int64_t n, int d, std::int64_t ld,
                               unsigned long long* out, cudaStream_t stream, bool sync_check) {
  if (n == 0 || d == 0) return;
  const std::int64_t blocks = std::min<std::int64_t>((n + 7) / 8, 4096);
  flag_unusable_rows_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(x, n, d, ld, out);
  KNNX_CHECK_LAUNCH(stream, sync_check, "flag_unusable_rows_kernel");
}

}  // namespace knnx::cuda
