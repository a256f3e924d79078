// The input stages of `knnx search`: the vectors, the searched index and a given ground truth.
#include <fmt/format.h>

#include "common.hpp"
#include "index_chain.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/metric.hpp"
#include "knnx/vector_io.hpp"
#include "search.hpp"

namespace knnx::cli {
namespace {

FlatPrecision flat_precision(const SearchOptions& o) {
  return o.precision == "fast" ? FlatPrecision::Fast : FlatPrecision::Exact;
}

Searched build_flat(const SearchOptions& o, Device device, const Matrix<float>& base) {
  Searched s;
  auto flat =
      std::make_unique<IndexFlat>(static_cast<int>(base.cols), parse_metric(o.metric), device);
  flat->set_precision(flat_precision(o));
  s.add_seconds = time_seconds([&] { flat->add(base.rows, base.data.data()); });
  s.index = std::move(flat);
  s.name = "IndexFlat";
  return s;
}

Searched load_index(const SearchOptions& o, Device device, int queries_dim) {
  Searched s;
  const Stopwatch watch;
  s.index = read_index(o.index_path, device, ReadIndexOptions{.mmap = o.mmap});
  const IndexChain chain = index_chain(*s.index);
  if (o.refine_storage) {
    auto* refine = dynamic_cast<IndexRefineFlat*>(chain.inner);
    if (refine == nullptr) {
      throw InvalidArgument(
          fmt::format("--refine-storage applies to RefineFlat indexes; {} holds "
                      "an {}",
                      o.index_path, index_class_name(*chain.inner)));
    }
    refine->set_refine_storage(*o.refine_storage == "device" ? RefineStorage::Device
                                                             : RefineStorage::Host);
  }
  s.load_seconds = watch.seconds();
  s.transforms = chain.transforms;
  s.ivf = dynamic_cast<IndexIVFFlat*>(chain.inner);
  s.name = index_class_name(*chain.inner);
  if (s.index->dim() != queries_dim) {
    throw InvalidArgument(fmt::format(
        "index {} holds {}-dimensional vectors, but the queries ({}) have dimension {}",
        o.index_path, s.index->dim(),
        o.generate > 0 ? std::string("generated, --dim") : o.queries_path, queries_dim));
  }
  if (o.generate > 0 && o.gt_path.empty() && s.index->ntotal() != o.generate) {
    // The generated base is the ground truth; it must be the data the index was built from.
    throw InvalidArgument(fmt::format(
        "--generate {} makes {} base vectors the ground truth, but index {} holds {}; give the "
        "--generate N and mixture options the index was built with, or --gt FILE",
        o.generate, o.generate, o.index_path, s.index->ntotal()));
  }
  auto* flat = dynamic_cast<IndexFlat*>(chain.inner);
  IndexIVFScalarQuantizer* ivf_sq = s.ivf_sq = dynamic_cast<IndexIVFScalarQuantizer*>(chain.inner);
  IndexIVFPQ* ivf_pq = s.ivf_pq = dynamic_cast<IndexIVFPQ*>(chain.inner);
  if (flat == nullptr && o.precision != "exact") {
    throw UsageError(
        fmt::format("--precision applies to Flat indexes; {} holds an {}", o.index_path, s.name));
  }
  if (o.n_probe && s.ivf == nullptr && ivf_sq == nullptr && ivf_pq == nullptr) {
    throw UsageError(
        fmt::format("--n-probe applies to IVF indexes; {} holds an {}", o.index_path, s.name));
  }
  if (s.ivf != nullptr && o.n_probe) s.ivf->set_n_probe(*o.n_probe);
  if (ivf_sq != nullptr && o.n_probe) ivf_sq->set_n_probe(*o.n_probe);
  if (ivf_pq != nullptr && o.n_probe) ivf_pq->set_n_probe(*o.n_probe);
  if (flat != nullptr) flat->set_precision(flat_precision(o));
  return s;
}

}  // namespace

void check_search_options(const SearchOptions& o) {
  if (!o.index_path.empty()) {
    if (o.generate == 0 && o.queries_path.empty()) {
      throw UsageError("give the queries of --index: --queries FILE, or --generate N");
    }
    return;
  }
  if (o.generate == 0 && o.base_path.empty()) {
    throw UsageError("give the data: --base FILE --queries FILE, or --generate N");
  }
}

SearchData load_search_data(const SearchOptions& o) {
  SearchData data;
  const Stopwatch watch;
  if (o.generate > 0) {
    VectorSets sets =
        generate_base_and_queries(o.mixture, o.generate, o.nq.value_or(kDefaultGeneratedQueries));
    data.base = std::move(sets.base);
    data.queries = std::move(sets.queries);
  } else if (!o.index_path.empty()) {
    data.queries = read_queries(o.queries_path, o.nq);
  } else {
    VectorSets sets = read_base_and_queries(o.base_path, o.queries_path, o.nq);
    data.base = std::move(sets.base);
    data.queries = std::move(sets.queries);
  }
  data.seconds = watch.seconds();
  return data;
}

Searched open_searched_index(const SearchOptions& o, Device device, const SearchData& data) {
  if (o.index_path.empty()) return build_flat(o, device, data.base);
  return load_index(o, device, static_cast<int>(data.queries.cols));
}

GroundTruth read_given_truth(const SearchOptions& o, idx_t nq) {
  GroundTruth truth;
  if (o.gt_path.empty()) return truth;
  truth.labels = read_labels(o.gt_path);
  if (truth.labels->rows < nq) {
    throw InvalidArgument(fmt::format("ground truth {} has {} rows, fewer than the {} queries",
                                      o.gt_path, truth.labels->rows, nq));
  }
  if (truth.labels->cols < o.k) {
    throw InvalidArgument(
        fmt::format("ground truth {} has {} neighbours per query, fewer than k = {}", o.gt_path,
                    truth.labels->cols, o.k));
  }
  truth.source = fmt::format("file {}", o.gt_path);
  return truth;
}

}  // namespace knnx::cli
