// knnx/recall.hpp — recall@k of search results against ground truth.
//
// recall@k is defined as in ann-benchmarks and FAISS's benchmark scripts: for each query, the
// number of distinct labels among its first k results that also appear among its first k true
// neighbours, divided by k; then averaged over queries. Labels of -1 (kNoLabel) are never
// counted as found. Where the ground truth itself holds fewer than k neighbours (trailing -1s,
// when the database had fewer than k vectors), the query divides by the number it does hold,
// so an exact search still scores 1; a query with no true neighbour at all scores 1.
#pragma once

#include <vector>

#include "knnx/types.hpp"
#include "knnx/vector_io.hpp"

namespace knnx {

// labels: nq x labels_k result labels, row-major; ground_truth: nq x gt_k true neighbour labels,
// best first. Requires nq >= 1, 1 <= k <= labels_k and k <= gt_k (InvalidArgument otherwise).
double recall_at_k(idx_t nq, const idx_t* labels, int labels_k, const idx_t* ground_truth,
                   int gt_k, int k);

// The same for matrices; ground_truth may have more rows than labels (only the first
// labels.rows rows are used), but not fewer.
double recall_at_k(const Matrix<idx_t>& labels, const Matrix<idx_t>& ground_truth, int k);

// recall@k of every query (the values recall_at_k averages).
std::vector<double> recall_at_k_per_query(idx_t nq, const idx_t* labels, int labels_k,
                                          const idx_t* ground_truth, int gt_k, int k);

}  // namespace knnx
