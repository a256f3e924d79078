// Small linear-algebra kernels: the two QR projection variants, the Gram-Schmidt steps, and
// layout / row-wise helpers. No runtime division in the loops: strides come in as arguments and
// 2-D grids carry the row and column indices.
#include "cuda/linalg/linalg_kernels.hpp"

#include <algorithm>

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/runtime/memory.hpp"

namespace knnx::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float s) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(kFullMask, s, offset);
  return s;
}

// One thread per column; four independent accumulators keep several loads in flight.
__global__ void project_simple_kernel(const float* __restrict__ q, std::int64_t m, std::int64_t k,
                                      std::int64_t ldq, const float* __restrict__ v,
                                      float* __restrict__ c) {
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= k) return;
  const float* col = q + j * ldq;
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  std::int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    s0 = fmaf(col[i], v[i], s0);
    s1 = fmaf(col[i + 1], v[i + 1], s1);
    s2 = fmaf(col[i + 2], v[i + 2], s2);
    s3 = fmaf(col[i + 3], v[i + 3], s3);
  }
  for (; i < m; ++i) s0 = fmaf(col[i], v[i], s0);
  c[j] = (s0 + s1) + (s2 + s3);
}

constexpr int kWarpsPerBlock = 8;

// One warp per column: lane l reads rows l, l+32, ... (each step one 128-byte line for the warp),
// then the lanes' sums are reduced with shuffles. blockIdx.y selects a slice of rows
// [y*rows_per_split, ...) when a few long columns would otherwise leave most SMs idle; each slice
// writes its partial sums to out[y*k + j].
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    project_warp_kernel(const float* __restrict__ q, std::int64_t m, std::int64_t k,
                        std::int64_t ldq, const float* __restrict__ v, std::int64_t rows_per_split,
                        float* __restrict__ out) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t j =
      static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (j >= k) return;  // whole warps leave together
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.y) * rows_per_split;
  const std::int64_t row1 = row0 + rows_per_split < m ? row0 + rows_per_split : m;
  const float* col = q + j * ldq;
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  std::int64_t i = row0 + lane;
  for (; i + 96 < row1; i += 128) {
    s0 = fmaf(col[i], v[i], s0);
    s1 = fmaf(col[i + 32], v[i + 32], s1);
    s2 = fmaf(col[i + 64], v[i + 64], s2);
    s3 = fmaf(col[i + 96], v[i + 96], s3);
  }
  for (; i < row1; i += 32) s0 = fmaf(col[i], v[i], s0);
  const float s = warp_sum((s0 + s1) + (s2 + s3));
  if (lane == 0) out[static_cast<std::int64_t>(blockIdx.y) * k + j] = s;
}

constexpr int kNormThreads = 1024;

__global__ void __launch_bounds__(kNormThreads)
    normalize_column_kernel(float* __restrict__ a, std::int64_t m, float* __restrict__ r_jj) {
  __shared__ float partial[kNormThreads / 32];
  __shared__ float scale;
  float s = 0.0f;
  for (std::int64_t i = threadIdx.x; i < m; i += kNormThreads) s = fmaf(a[i], a[i], s);
  s = warp_sum(s);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    float t = partial[threadIdx.x];
    t = warp_sum(t);
    if (threadIdx.x == 0) {
      const float norm = sqrtf(t);
      *r_jj = norm;
      scale = norm > 0.0f ? 1.0f / norm : 0.0f;
    }
  }
  __syncthreads();
  const float f = scale;
  for (std::int64_t i = threadIdx.x; i < m; i += kNormThreads) a[i] *= f;
}

// 2-D grid: x over rows, y over columns (grid-stride).
__global__ void rank1_update_kernel(float* __restrict__ a, std::int64_t m, std::int64_t cols,
                                    std::int64_t ld, const float* __restrict__ q,
                                    const float* __restrict__ coeffs) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= m) return;
  const float qi = q[row];
  for (std::int64_t col = blockIdx.y; col < cols; col += gridDim.y) {
    a[col * ld + row] = fmaf(-coeffs[col], qi, a[col * ld + row]);
  }
}

__global__ void upper_product_kernel(const float* __restrict__ r2, const float* __restrict__ r1,
                                     float* __restrict__ r, int k) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int i = static_cast<int>(blockIdx.y * blockDim.y + threadIdx.y);
  if (i >= k || j >= k) return;
  float s = 0.0f;
  for (int l = i; l <= j; ++l) s = fmaf(r2[i * k + l], r1[l * k + j], s);
  r[i * k + j] = s;  // 0 below the diagonal (empty sum)
}

constexpr int kTransposeTile = 32;

// Block (32, 8) moves one 32 x 32 tile; x over row tiles, y over column tiles.
__global__ void transpose_kernel(const float* __restrict__ src, std::int64_t rows,
                                 std::int64_t cols, std::int64_t ld_src, float* __restrict__ dst,
                                 std::int64_t ld_dst) {
  __shared__ float tile[kTransposeTile][kTransposeTile + 1];
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * kTransposeTile;
  const std::int64_t c0 = static_cast<std::int64_t>(blockIdx.y) * kTransposeTile;
  for (int dy = threadIdx.y; dy < kTransposeTile; dy += blockDim.y) {
    const std::int64_t r = r0 + dy;
    const std::int64_t c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[dy][threadIdx.x] = src[r * ld_src + c];
  }
  __syncthreads();
  for (int dy = threadIdx.y; dy < kTransposeTile; dy += blockDim.y) {
    const std::int64_t c = c0 + dy;            // row of dst
    const std::int64_t r = r0 + threadIdx.x;   // column of dst
    if (r < rows && c < cols) dst[c * ld_dst + r] = tile[threadIdx.x][dy];
  }
}

__global__ void rows_affine_kernel(float* __restrict__ x, std::int64_t n, std::int64_t d,
                                   const float* __restrict__ add, const float* __restrict__ scale) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= d) return;
  const float a = add ? add[col] : 0.0f;
  const float s = scale ? scale[col] : 1.0f;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; row < n;
       row += static_cast<std::int64_t>(gridDim.y) * blockDim.y) {
    x[row * d + col] = (x[row * d + col] + a) * s;
  }
}

// One warp per row.
__global__ void l2_normalize_rows_kernel(float* __restrict__ x, std::int64_t n, std::int64_t d) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) +
                          (threadIdx.x >> 5);
       row < n; row += warps) {
    float* r = x + row * d;
    float s = 0.0f;
    for (std::int64_t c = lane; c < d; c += 32) s = fmaf(r[c], r[c], s);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(kFullMask, s, offset);
    const float f = s > 0.0f ? rsqrtf(s) : 0.0f;
    for (std::int64_t c = lane; c < d; c += 32) r[c] *= f;
  }
}

__global__ void sum_parts_kernel(const float* __restrict__ parts, int count, std::int64_t stride,
                                 std::int64_t n, float* __restrict__ dst) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int p = 0; p < count; ++p) s += parts[p * stride + i];
    dst[i] = s;
  }
}

unsigned blocks_for(std::int64_t n, int per_block) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, (n + per_block - 1) / per_block));
}

}  // namespace

void launch_project_coeffs(QrDot variant, const float* q, std::int64_t m, std::int64_t k,
                           std::int64_t ldq, const float* v, float* c, cudaStream_t stream,
                           bool sync_check) {
  if (k == 0) return;
  if (variant == QrDot::Simple) {
    constexpr int kThreads = 128;
    project_simple_kernel<<<blocks_for(k, kThreads), kThreads, 0, stream>>>(q, m, k, ldq, v, c);
    KNNX_CHECK_LAUNCH(stream, sync_check, "project_simple_kernel");
  } else {
    // Enough blocks for ~4 per SM; each row slice keeps >= 4096 rows so the extra pass over
    // the partial sums stays negligible.
    constexpr std::int64_t kMinRowsPerSplit = 4096;
    int device = 0;
    KNNX_CUDA_CHECK(cudaStreamGetDevice(stream, &device));
    const std::int64_t target = 4 * std::int64_t{device_properties(device).multiProcessorCount};
    const std::int64_t col_blocks = (k + kWarpsPerBlock - 1) / kWarpsPerBlock;
    std::int64_t splits = std::max<std::int64_t>(1, (target + col_blocks - 1) / col_blocks);
    splits = std::min<std::int64_t>({splits, std::max<std::int64_t>(1, m / kMinRowsPerSplit), 65535});
    std::int64_t rows_per_split = (m + splits - 1) / splits;
    rows_per_split = (rows_per_split + 127) / 128 * 128;
    splits = std::max<std::int64_t>(1, (m + rows_per_split - 1) / rows_per_split);
    const dim3 grid(blocks_for(k, kWarpsPerBlock), static_cast<unsigned>(splits));
    if (splits == 1) {
      project_warp_kernel<<<grid, kWarpsPerBlock * 32, 0, stream>>>(q, m, k, ldq, v, m, c);
      KNNX_CHECK_LAUNCH(stream, sync_check, "project_warp_kernel");
      return;
    }
    DeviceBuffer<float> partial(static_cast<std::size_t>(splits * k), stream);
    project_warp_kernel<<<grid, kWarpsPerBlock * 32, 0, stream>>>(q, m, k, ldq, v, rows_per_split,
                                                                 partial.data());
    KNNX_CHECK_LAUNCH(stream, sync_check, "project_warp_kernel (row slices)");
    launch_sum_parts(partial.data(), static_cast<int>(splits), k, k, c, stream, sync_check);
  }
}

void launch_normalize_column(float* a_j, std::int64_t m, float* r_jj, cudaStream_t stream,
                             bool sync_check) {
  normalize_column_kernel<<<1, kNormThreads, 0, stream>>>(a_j, m, r_jj);
  KNNX_CHECK_LAUNCH(stream, sync_check, "normalize_column_kernel");
}

void launch_rank1_update(float* a, std::int64_t m, std::int64_t cols, std::int64_t ld,
                         const float* q, const float* coeffs, cudaStream_t stream,
                         bool sync_check) {
  if (cols == 0 || m == 0) return;
  constexpr int kThreads = 256;
  const dim3 grid(blocks_for(m, kThreads), static_cast<unsigned>(std::min<std::int64_t>(cols, 65535)));
  rank1_update_kernel<<<grid, kThreads, 0, stream>>>(a, m, cols, ld, q, coeffs);
  KNNX_CHECK_LAUNCH(stream, sync_check, "rank1_update_kernel");
}

void launch_upper_product(const float* r2, const float* r1, float* r, int k, cudaStream_t stream,
                          bool sync_check) {
  const dim3 block(16, 16);
  const dim3 grid(blocks_for(k, 16), blocks_for(k, 16));
  upper_product_kernel<<<grid, block, 0, stream>>>(r2, r1, r, k);
  KNNX_CHECK_LAUNCH(stream, sync_check, "upper_product_kernel");
}

void launch_transpose(const float* src, std::int64_t rows, std::int64_t cols, std::int64_t ld_src,
                      float* dst, std::int64_t ld_dst, cudaStream_t stream, bool sync_check) {
  if (rows == 0 || cols == 0) return;
  const dim3 block(kTransposeTile, 8);
  const dim3 grid(blocks_for(rows, kTransposeTile), blocks_for(cols, kTransposeTile));
  transpose_kernel<<<grid, block, 0, stream>>>(src, rows, cols, ld_src, dst, ld_dst);
  KNNX_CHECK_LAUNCH(stream, sync_check, "transpose_kernel");
}

void launch_rows_affine(float* x, std::int64_t n, std::int64_t d, const float* add,
                        const float* scale, cudaStream_t stream, bool sync_check) {
  if (n == 0 || d == 0) return;
  const dim3 block(32, 8);
  const dim3 grid(blocks_for(d, 32), std::min<unsigned>(blocks_for(n, 8), 65535u));
  rows_affine_kernel<<<grid, block, 0, stream>>>(x, n, d, add, scale);
  KNNX_CHECK_LAUNCH(stream, sync_check, "rows_affine_kernel");
}

void launch_l2_normalize_rows(float* x, std::int64_t n, std::int64_t d, cudaStream_t stream,
                              bool sync_check) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  l2_normalize_rows_kernel<<<std::min<unsigned>(blocks_for(n, kThreads / 32), 65535u), kThreads, 0,
                             stream>>>(x, n, d);
  KNNX_CHECK_LAUNCH(stream, sync_check, "l2_normalize_rows_kernel");
}

void launch_sum_parts(const float* parts, int count, std::int64_t stride, std::int64_t n,
                      float* dst, cudaStream_t stream, bool sync_check) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  sum_parts_kernel<<<std::min<unsigned>(blocks_for(n, kThreads), 65535u), kThreads, 0, stream>>>(
      parts, count, stride, n, dst);
  KNNX_CHECK_LAUNCH(stream, sync_check, "sum_parts_kernel");
}

}  // namespace knnx::cuda
