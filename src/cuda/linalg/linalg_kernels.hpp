// cuda/linalg/linalg_kernels.hpp — launchers of the small linear-algebra kernels: the QR
// projection c = Q^T v in two variants, the modified Gram-Schmidt steps, and the layout and
// row-wise helpers the SVD and the transforms need.
//
// Column-major here means column j of an m x k matrix starts at q + j * ldq (ldq >= m), which is
// how Gram-Schmidt walks a matrix; row-major is the layout of the public API.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace knnx::cuda {

enum class QrDot { Simple, Warp };

// c[j] = sum_i Q[j*ldq + i] * v[i] for j < k (Q column-major m x k).
// Simple: one thread per column walking its rows; coalesced only through the cache, but no
// reduction. Warp: one warp per column, lanes stride the rows (coalesced 128-byte reads) and the
// 32 partial sums meet through __shfl_down_sync; long columns are cut into row slices (one warp
// per column and slice) whose partial sums a second kernel adds in slice order.
void launch_project_coeffs(QrDot variant, const float* q, std::int64_t m, std::int64_t k,
                           std::int64_t ldq, const float* v, float* c, cudaStream_t stream,
                           bool sync_check);

// Gram-Schmidt step j on a column-major m x k matrix a (ld): r[j*ldr + j] = ||a_j||, then a_j is
// scaled to unit length (set to zero, with r_jj = 0, when its norm is zero).
void launch_normalize_column(float* a_j, std::int64_t m, float* r_jj, cudaStream_t stream,
                             bool sync_check);

// a_i -= coeffs[i] * q for the `cols` columns a_i starting at a (ld): the update of MGS after
// the projection coefficients were written to coeffs.
void launch_rank1_update(float* a, std::int64_t m, std::int64_t cols, std::int64_t ld,
                         const float* q, const float* coeffs, cudaStream_t stream,
                         bool sync_check);

// r = r2 * r1 for upper-triangular k x k row-major matrices (combines two Gram-Schmidt passes).
void launch_upper_product(const float* r2, const float* r1, float* r, int k, cudaStream_t stream,
                          bool sync_check);

// dst (cols x rows, ld_dst) = src (rows x cols, ld_src)^T, through 32 x 32 shared-memory tiles.
void launch_transpose(const float* src, std::int64_t rows, std::int64_t cols, std::int64_t ld_src,
                      float* dst, std::int64_t ld_dst, cudaStream_t stream, bool sync_check);

// x[r][c] = (x[r][c] + add[c]) * scale[c] for an n x d row-major matrix (add, scale may be
// null: 0 and 1).
void launch_rows_affine(float* x, std::int64_t n, std::int64_t d, const float* add,
                        const float* scale, cudaStream_t stream, bool sync_check);

// Each row of the n x d row-major x scaled to unit L2 norm (rows of norm 0 stay 0).
void launch_l2_normalize_rows(float* x, std::int64_t n, std::int64_t d, cudaStream_t stream,
                              bool sync_check);

// dst = sum of `parts` n-element arrays laid out `stride` apart (in index order).
void launch_sum_parts(const float* parts, int count, std::int64_t stride, std::int64_t n,
                      float* dst, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
