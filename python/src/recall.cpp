// recall.cpp — recall@k of search results against ground truth.
#include "knnx/recall.hpp"

#include <fmt/format.h>
#include <nanobind/stl/optional.h>

#include <limits>
#include <optional>

#include "arrays.hpp"
#include "bindings.hpp"
#include "knnx/error.hpp"

namespace knnx::python {
namespace {

using Values1D = nb::ndarray<nb::numpy, double, nb::ndim<1>, nb::c_contig>;

struct RecallArgs {
  Rows<idx_t> labels;
  Rows<idx_t> truth;
  int k;
};

RecallArgs recall_args(ArrayLike labels, ArrayLike ground_truth, std::optional<int> k) {
  RecallArgs a{to_rows<idx_t>(labels, ArraySpec{.name = "labels", .rank = Rank::kMatrixOrVector}),
               to_rows<idx_t>(ground_truth,
                              ArraySpec{.name = "ground_truth", .rank = Rank::kMatrixOrVector}),
               0};
  constexpr idx_t kIntMax = std::numeric_limits<int>::max();
  if (a.labels.cols() > kIntMax || a.truth.cols() > kIntMax) {
    throw InvalidArgument(fmt::format("labels and ground_truth must have at most {} columns", kIntMax));
  }
  if (a.truth.rows() < a.labels.rows()) {
    throw InvalidArgument(fmt::format("ground_truth has {} rows, fewer than the {} rows of labels",
                                      a.truth.rows(), a.labels.rows()));
  }
  const long long kk = k ? *k : a.labels.cols();
  if (kk < 1 || kk > a.labels.cols()) {
    throw InvalidArgument(
        fmt::format("k must be in [1, labels.shape[1] = {}], got {}", a.labels.cols(), kk));
  }
  a.k = static_cast<int>(kk);
  return a;
}

}  // namespace

void bind_recall(nb::module_& m) {
  m.def(
      "recall_at_k",
      [](ArrayLike labels, ArrayLike ground_truth, std::optional<int> k) {
        const RecallArgs a = recall_args(labels, ground_truth, k);
        nb::gil_scoped_release release;
        return recall_at_k(a.labels.rows(), a.labels.data(), static_cast<int>(a.labels.cols()),
                           a.truth.data(), static_cast<int>(a.truth.cols()), a.k);
      },
      nb::arg("labels"), nb::arg("ground_truth"), nb::arg("k") = nb::none(),
      "Mean recall@k of search labels (nq, >= k) against ground truth (>= nq, >= k), as in\n"
      "ann-benchmarks: per query, the distinct labels among the first k results that are among\n"
      "the first k true neighbours, divided by k (or by the number of true neighbours when the\n"
      "ground truth holds fewer; -1 never counts). k defaults to labels.shape[1].");
  m.def(
      "recall_at_k_per_query",
      [](ArrayLike labels, ArrayLike ground_truth, std::optional<int> k) {
        const RecallArgs a = recall_args(labels, ground_truth, k);
        std::vector<double> r;
        {
          nb::gil_scoped_release release;
          r = recall_at_k_per_query(a.labels.rows(), a.labels.data(),
                                    static_cast<int>(a.labels.cols()), a.truth.data(),
                                    static_cast<int>(a.truth.cols()), a.k);
        }
        const std::size_t n = r.size();
        return make_numpy<Values1D>(std::move(r), {n});
      },
      nb::arg("labels"), nb::arg("ground_truth"), nb::arg("k") = nb::none(),
      "recall@k of every query, float64 (nq,): the values recall_at_k averages.");
}

}  // namespace knnx::python
