// cpu/pq_tables.hpp — a query's product-quantizer lookup tables (ProductQuantizer::
// compute_distance_tables): for each sub-space m and centroid j, the squared L2 distance or the
// inner product between the query's sub-vector and the centroid; and the sum a probed list's
// table is made of in an IVF-PQ search.
//
// The codebooks are read transposed (per sub-space, dsub rows of ksub floats: component e of every
// centroid together), so the loops run across centroids, 16 at a time in registers, and vectorise
// with no horizontal sums. Each entry is still summed over e = 0 .. dsub-1 in order from 0, one
// multiply and one add per component (no fused multiply-add), so every instruction set gives the
// same bits. The AVX2 version is picked at run time (the library is compiled for the baseline
// instruction set); the portable loop is the reference it is tested against.
#pragma once

#include <cstddef>
#include <vector>

#include "knnx/types.hpp"

namespace knnx::cpu {

// The codebooks (M x ksub x dsub, as ProductQuantizer keeps them) as M x dsub x ksub.
std::vector<float> pq_transpose_codebooks(const std::vector<float>& centroids, int M, int ksub,
                                          int dsub);

// tables[m * ksub + j] for m < M, j < ksub: the squared L2 distance (l2) or the inner product
// between query[m * dsub ...] and centroid j of sub-space m; transposed as above. ksub is a
// multiple of 16.
void pq_query_tables(const float* transposed, int M, int ksub, int dsub, const float* query,
                     bool l2, float* tables);
// The portable loop (the reference the SIMD version is tested against).
void pq_query_tables_portable(const float* transposed, int M, int ksub, int dsub,
                              const float* query, bool l2, float* tables);

// out[e] = a[e] + f * b[e] for e < n, the product rounded before the sum (no fused
// multiply-add, as above): a probed list's table from its precomputed part and the query's.
void pq_add_scaled(const float* a, float f, const float* b, std::size_t n, float* out);
void pq_add_scaled_portable(const float* a, float f, const float* b, std::size_t n, float* out);

// labels[m] for m < M: the centroid of sub-space m with the smallest entry of tables (M x ksub,
// as pq_query_tables writes them), the lowest number among equal entries; ksub is a multiple
// of 16. How ProductQuantizer::encode picks a row's codes from its L2 tables.
void pq_nearest_centroids(const float* tables, int M, int ksub, int* labels);
void pq_nearest_centroids_portable(const float* tables, int M, int ksub, int* labels);

// The instruction set pq_query_tables and pq_add_scaled use on this CPU: "avx2" or "portable".
const char* pq_query_tables_isa();

}  // namespace knnx::cpu
