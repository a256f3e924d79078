// Exact ground truth for `knnx search`: the CPU IndexFlat is exact (blocked sgemm distances with
// a full top-k per query), over the base given on the command line or over what an index holds.
#include <fmt/format.h>

#include "common.hpp"
#include "index_chain.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "search.hpp"

namespace knnx::cli {
namespace {

// Exact search over the vectors (and ids) a loaded index holds; behind transforms, in the
// transformed space (the queries transformed as the index transforms them).
void exact_search_over_stored(Index& outer, const Matrix<float>& queries, Results& truth) {
  const IndexChain chain = index_chain(outer);
  const Index& index = *chain.inner;
  IndexFlat exact(index.dim(), index.metric(), Device::cpu());
  if (const auto* flat = dynamic_cast<const IndexFlat*>(&index)) {
    const std::vector<float> vectors = flat->vectors();
    const std::vector<idx_t> ids = flat->ids();
    if (!ids.empty())
      exact.add_with_ids(static_cast<idx_t>(ids.size()), vectors.data(), ids.data());
  } else if (const auto* ivf = dynamic_cast<const IndexIVFFlat*>(&index)) {
    for (int l = 0; l < ivf->n_lists(); ++l) {
      const std::vector<idx_t> ids = ivf->list_ids(l);
      if (ids.empty()) continue;
      const std::vector<float> vectors = ivf->list_vectors(l);
      exact.add_with_ids(static_cast<idx_t>(ids.size()), vectors.data(), ids.data());
    }
  } else {
    // Compressed indexes keep codes, not the vectors an exact search needs.
    throw UsageError(fmt::format(
        "exact ground truth needs the stored vectors, but an {} keeps compressed codes; give "
        "--gt FILE",
        index_class_name(index)));
  }
  if (chain.transforms.empty()) {
    search_into(exact, queries, truth);
    return;
  }
  const Matrix<float> transformed{queries.rows, index.dim(),
                                  apply_chain(chain.transforms, queries.rows, queries.data.data())};
  search_into(exact, transformed, truth);
}

}  // namespace

bool wants_computed_truth(const SearchOptions& o) {
  return o.gt_path.empty() && (o.compute_gt || o.generate > 0);
}

GroundTruth compute_ground_truth(const SearchOptions& o, const SearchData& data,
                                 const Searched& searched) {
  GroundTruth truth;
  truth.computed = true;
  Results exact = make_results(data.queries.rows, o.k);
  const bool over_base = data.base.rows > 0;
  truth.seconds = time_seconds([&] {
    if (over_base) {
      IndexFlat flat(static_cast<int>(data.base.cols), searched.index->metric(), Device::cpu());
      flat.add(data.base.rows, data.base.data.data());
      search_into(flat, data.queries, exact);
    } else {
      exact_search_over_stored(*searched.index, data.queries, exact);
    }
  });
  truth.labels = std::move(exact.labels);
  truth.source = o.index_path.empty() ? "exact CPU IndexFlat"
                 : over_base          ? "exact CPU IndexFlat over the generated base"
                 : searched.transforms.empty()
                     ? "exact CPU IndexFlat over the index's vectors"
                     : "exact CPU IndexFlat over the index's transformed vectors";
  return truth;
}

}  // namespace knnx::cli
