// cpu/kmeans_cpu.hpp — the CPU k-means backend: seeding, Lloyd iterations, empty-cluster splits.
//
// Every parallel loop runs over blocks of a fixed number of rows (or over single centroids),
// each sum is formed in one fixed order, and every sgemm runs on its calling thread alone (with
// the OpenMP build of OpenBLAS, which knnx prefers), so results do not depend on the thread
// count.
#pragma once

#include <memory>

#include "core/kmeans_backend.hpp"

namespace knnx::cpu {

std::unique_ptr<detail::KMeansBackend> make_kmeans_backend();

// Nearest of k centroids for each of n rows (exact; flat_search with k = 1 over fixed blocks
// of rows). centroid_norms: squared norms of the centroids (read for L2 only). distances may
// be null.
void nearest_centroids(idx_t n, const float* x, int dim, const float* centroids,
                       const float* centroid_norms, int k, Metric metric, idx_t* labels,
                       float* distances);

}  // namespace knnx::cpu
