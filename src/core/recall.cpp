#include "knnx/recall.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "core/check.hpp"

namespace knnx {
namespace {

void validate(idx_t nq, const idx_t* labels, int labels_k, const idx_t* ground_truth, int gt_k,
              int k) {
  detail::check_count(nq, "nq");
  detail::check_not_null(labels, "labels");
  detail::check_not_null(ground_truth, "ground_truth");
  detail::require(labels_k >= 1, "labels_k must be >= 1, got {}", labels_k);
  detail::require(gt_k >= 1, "gt_k must be >= 1, got {}", gt_k);
  detail::require(k >= 1 && k <= labels_k,
                  "k must be in [1, labels_k = {}], got {}", labels_k, k);
  detail::require(k <= gt_k, "k = {} exceeds the ground truth's {} neighbours per query", k,
                  gt_k);
  detail::checked_elements(nq, labels_k, "labels");
  detail::checked_elements(nq, gt_k, "ground_truth");
}

// Sorted, distinct, valid labels among row[0..k).
void distinct_valid(const idx_t* row, int k, std::vector<idx_t>& out) {
  out.clear();
  for (int j = 0; j < k; ++j) {
    if (row[j] >= 0) out.push_back(row[j]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

double query_recall(const idx_t* found_row, const idx_t* true_row, int k,
                    std::vector<idx_t>& found, std::vector<idx_t>& truth) {
  distinct_valid(true_row, k, truth);
  if (truth.empty()) return 1.0;
  distinct_valid(found_row, k, found);
  std::size_t hits = 0;
  auto f = found.begin();
  for (idx_t t : truth) {
    f = std::lower_bound(f, found.end(), t);
    if (f == found.end()) break;
    if (*f == t) ++hits;
  }
  // Ground truth with fewer than k entries means the database had fewer than k vectors.
  const std::size_t denominator = std::min<std::size_t>(static_cast<std::size_t>(k), truth.size());
  return static_cast<double>(hits) / static_cast<double>(denominator);
}

}  // namespace

std::vector<double> recall_at_k_per_query(idx_t nq, const idx_t* labels, int labels_k,
                                          const idx_t* ground_truth, int gt_k, int k) {
  validate(nq, labels, labels_k, ground_truth, gt_k, k);
  std::vector<double> out(static_cast<std::size_t>(nq));
  std::vector<idx_t> found, truth;
  found.reserve(static_cast<std::size_t>(k));
  truth.reserve(static_cast<std::size_t>(k));
  for (idx_t q = 0; q < nq; ++q) {
    out[static_cast<std::size_t>(q)] =
        query_recall(labels + q * labels_k, ground_truth + q * gt_k, k, found, truth);
  }
  return out;
}

double recall_at_k(idx_t nq, const idx_t* labels, int labels_k, const idx_t* ground_truth,
                   int gt_k, int k) {
  const std::vector<double> per_query =
      recall_at_k_per_query(nq, labels, labels_k, ground_truth, gt_k, k);
  double sum = 0.0;
  for (double r : per_query) sum += r;
  return sum / static_cast<double>(nq);
}

double recall_at_k(const Matrix<idx_t>& labels, const Matrix<idx_t>& ground_truth, int k) {
  detail::require(labels.cols >= 1 && labels.cols <= std::numeric_limits<int>::max(),
                  "labels must have between 1 and {} columns, got {}",
                  std::numeric_limits<int>::max(), labels.cols);
  detail::require(ground_truth.cols >= 1 && ground_truth.cols <= std::numeric_limits<int>::max(),
                  "ground_truth must have between 1 and {} columns, got {}",
                  std::numeric_limits<int>::max(), ground_truth.cols);
  detail::require(ground_truth.rows >= labels.rows,
                  "ground_truth has {} rows, fewer than the {} rows of labels", ground_truth.rows,
                  labels.rows);
  detail::require(labels.data.size() == static_cast<std::size_t>(labels.rows * labels.cols),
                  "labels holds {} values, expected {} x {}", labels.data.size(), labels.rows,
                  labels.cols);
  detail::require(
      ground_truth.data.size() == static_cast<std::size_t>(ground_truth.rows * ground_truth.cols),
      "ground_truth holds {} values, expected {} x {}", ground_truth.data.size(),
      ground_truth.rows, ground_truth.cols);
  return recall_at_k(labels.rows, labels.data.data(), static_cast<int>(labels.cols),
                     ground_truth.data.data(), static_cast<int>(ground_truth.cols), k);
}

}  // namespace knnx
