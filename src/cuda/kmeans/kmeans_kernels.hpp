// cuda/kmeans/kmeans_kernels.hpp — device pieces of GPU k-means: centroid sums and means,
// k-means++ seeding steps, objective reduction.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace knnx::cuda {

// sums[label[i]] += x[i] (rows of dp floats), counts[label[i]] += 1. sums/counts zeroed first.
void launch_centroid_sums(const float* x, std::int64_t n, int dp, const std::int64_t* labels,
                          float* sums, int* counts, cudaStream_t stream, bool sync_check);

// centroids[c] = sums[c] / counts[c] where counts[c] > 0 (others keep their value);
// normalised to unit length when spherical.
void launch_centroid_means(const float* sums, const int* counts, int k, int dp, bool spherical,
                           float* centroids, cudaStream_t stream, bool sync_check);

// Sum of v[0..n) in double into *out (device).
void launch_sum(const float* v, std::int64_t n, double* out, cudaStream_t stream,
                bool sync_check);

// k-means++ step: d2[i] = min(d2[i], |x_i - x_center|^2), where center = *center_index
// (device), then writes the row into centroids[slot].
void launch_kmeanspp_update(const float* x, std::int64_t n, int dp, const std::int64_t* center_index,
                            float* d2, float* centroids, int slot, cudaStream_t stream,
                            bool sync_check);

// Inclusive prefix sums, in double, of the D² weights d2[0..n) (w is n doubles of scratch;
// temp holds kmeanspp_scan_temp_bytes(n) bytes).
std::size_t kmeanspp_scan_temp_bytes(std::int64_t n);
void launch_kmeanspp_prefix(const float* d2, std::int64_t n, double* w, double* prefix, void* temp,
                            std::size_t temp_bytes, cudaStream_t stream, bool sync_check);

// k-means++ draw: given the inclusive prefix sums of d2 (double, n entries), writes into
// *center_index the first i with prefix[i] > u * prefix[n-1].
void launch_kmeanspp_draw(const double* prefix, std::int64_t n, double u,
                          std::int64_t* center_index, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
