// cuda/common/row_kernels.hpp — launchers of row utility kernels the backends share. Rows are
// padded to a stride dp (a multiple of 4 floats, zero-filled) so kernels read them as float4.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace knnx::cuda {

// Squared norms of n padded rows into out[0..n).
void launch_row_norms(const float* x, std::int64_t n, int dp, float* out, cudaStream_t stream,
                      bool sync_check);

// Copies n rows of width d (stride src_ld floats) into a zero-padded [n][dp] buffer.
void launch_pad_rows(const float* src, std::int64_t n, int d, std::int64_t src_ld, float* dst,
                     int dp, cudaStream_t stream, bool sync_check);

// Host queries of at most this many values are checked on the host before anything is queued
// (check_vectors_host: about a microsecond) instead of by launch_flag_unusable_rows: a launch
// costs more than that, and a search of one or a few queries is made of a few launches.
inline constexpr std::int64_t kHostCheckMaxValues = 4096;

// Sets *out to a nonzero flag (core/check_flags.hpp) when one
// of the n rows of d floats (stride ld) of x holds NaN/Inf or has a squared L2 norm above
// kMaxSquaredNorm: the device side of check_vectors_host. out may be mapped host memory; the
// caller clears it first and reads it after synchronising (detail::require_not_flagged).
void launch_flag_unusable_rows(const float* x, std::int64_t n, int d, std::int64_t ld,
                               unsigned long long* out, cudaStream_t stream, bool sync_check);

// rows[i] = the row holding id ids[i], for i < count: with sorted_ids null the ids are the row
// numbers (row = id when 0 <= id < n); otherwise the row is row_of_sorted[j] for the j with
// sorted_ids[j] == id (n ids ascending). -1 for a negative or absent id.
void launch_rows_of_ids(const std::int64_t* ids, std::int64_t count, const std::int64_t* sorted_ids,
                        const std::int32_t* row_of_sorted, std::int64_t n, std::int32_t* rows,
                        cudaStream_t stream, bool sync_check);

// dst[i] = src[keep[i]] rows, for i < n_keep (rows of dp floats).
void launch_gather_rows(const float* src, int dp, const std::int64_t* keep, std::int64_t n_keep,
                        float* dst, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
