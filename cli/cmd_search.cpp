// knnx search: k-NN search with timings, optional recall@k against ground truth, and optional
// result files. The index is either built here (an exact IndexFlat over base vectors from a file
// or from the built-in Gaussian mixture) or loaded from a file written by `knnx build` /
// write_index; queries come from a file or from the mixture.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "index_chain.hpp"
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/metric.hpp"
#include "knnx/recall.hpp"
#include "knnx/synthetic.hpp"
#include "knnx/vector_io.hpp"
#include "knnx/version.hpp"

namespace knnx::cli {
namespace {

constexpr idx_t kDefaultGeneratedQueries = 1000;

struct SearchOptions {
  // Data from files...
  std::string base_path;
  std::string queries_path;
  // ...or generated...
  idx_t generate = 0;
  MixtureSpec mixture;
  std::optional<idx_t> nq;
  // ...and the index built from the base, or loaded from a file.
  std::string index_path;
  std::optional<int> n_probe;

  int k = 10;
  std::string metric = "l2";
  std::string device = "cpu";
  std::string precision = "exact";
  std::string gt_path;
  bool compute_gt = false;
  std::string out_path;
  int repeat = 1;
  std::optional<int> threads;
  int show = 3;
  bool json = false;
};

// Where --out writes: labels at the given path, distances in a sibling file.
struct OutputPaths {
  std::string labels;
  std::string distances;
};

OutputPaths output_paths(const std::string& out) {
  if (ends_with(out, ".npy")) {
    return {out, out.substr(0, out.size() - 4) + ".distances.npy"};
  }
  return {out, out.substr(0, out.size() - 6) + ".distances.fvecs"};  // ".ivecs"
}

struct Data {
  Matrix<float> base;  // empty when the index comes from a file and no base is generated
  Matrix<float> queries;
  double seconds = 0.0;  // reading or generating
};

void check_rows(const Matrix<float>& m, const std::string& what, const std::string& path) {
  if (m.rows == 0) throw InvalidArgument(fmt::format("{} file {} holds no vectors", what, path));
}

Data load_data(const SearchOptions& o) {
  Data data;
  const Stopwatch watch;
  if (o.generate > 0) {
    const GaussianMixture mixture(o.mixture);
    data.base = mixture.sample(o.generate, kBaseStream).vectors;
    data.queries = mixture.sample(o.nq.value_or(kDefaultGeneratedQueries), kQueryStream).vectors;
  } else if (!o.index_path.empty()) {
    data.queries = read_vectors(o.queries_path, o.nq.value_or(-1));
    check_rows(data.queries, "queries", o.queries_path);
  } else {
    data.base = read_vectors(o.base_path);
    data.queries = read_vectors(o.queries_path, o.nq.value_or(-1));
    if (data.base.cols != data.queries.cols) {
      throw InvalidArgument(
          fmt::format("base vectors ({}) have dimension {} but queries ({}) have dimension {}",
                      o.base_path, data.base.cols, o.queries_path, data.queries.cols));
    }
    check_rows(data.base, "base", o.base_path);
    check_rows(data.queries, "queries", o.queries_path);
  }
  data.seconds = watch.seconds();
  return data;
}

// The index searched: built here from the base, or loaded from --index.
struct Searched {
  std::unique_ptr<Index> index;
  std::string name;  // "IndexFlat", "IndexIVFFlat" (behind the transforms, if any)
  std::vector<const VectorTransform*> transforms;  // of a loaded IndexPreTransform chain
  std::optional<double> add_seconds;
  std::optional<double> load_seconds;
  IndexIVFFlat* ivf = nullptr;  // when it is one
};

struct Results {
  idx_t nq = 0;
  int k = 0;
  std::vector<float> distances;
  Matrix<idx_t> labels;
};

Results make_results(idx_t nq, int k) {
  Results r;
  r.nq = nq;
  r.k = k;
  r.distances.resize(static_cast<std::size_t>(nq) * static_cast<std::size_t>(k));
  r.labels.rows = nq;
  r.labels.cols = k;
  r.labels.data.resize(r.distances.size());
  return r;
}

void search_into(const Index& index, const Matrix<float>& queries, Results& r) {
  index.search(queries.rows, queries.data.data(), r.k, r.distances.data(), r.labels.data.data());
}

void write_results(const OutputPaths& paths, const Results& r) {
  const idx_t nq = r.nq;
  const idx_t k = r.k;
  Matrix<float> distances{nq, k, r.distances};
  if (ends_with(paths.labels, ".npy")) {
    write_npy(paths.labels, r.labels);
    write_npy(paths.distances, distances);
    return;
  }
  Matrix<std::int32_t> labels32{nq, k, {}};
  labels32.data.reserve(r.labels.data.size());
  for (idx_t label : r.labels.data) {
    if (label > std::numeric_limits<std::int32_t>::max()) {
      throw InvalidArgument(fmt::format(
          "label {} does not fit the int32 values of {}; write .npy instead", label, paths.labels));
    }
    labels32.data.push_back(static_cast<std::int32_t>(label));
  }
  write_ivecs(paths.labels, labels32);
  write_fvecs(paths.distances, distances);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

void check_options(const SearchOptions& o) {
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

Searched load_index(const SearchOptions& o, Device device, int queries_dim) {
  Searched s;
  const Stopwatch watch;
  s.index = read_index(o.index_path, device);
  s.load_seconds = watch.seconds();
  const IndexChain chain = index_chain(*s.index);
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
  if (s.ivf != nullptr) {
    if (o.precision != "exact") {
      throw UsageError(
          fmt::format("--precision applies to Flat indexes; {} holds an {}", o.index_path, s.name));
    }
    if (o.n_probe) s.ivf->set_n_probe(*o.n_probe);
  } else {
    if (o.n_probe) {
      throw UsageError(
          fmt::format("--n-probe applies to IVF indexes; {} holds an {}", o.index_path, s.name));
    }
    dynamic_cast<IndexFlat&>(*chain.inner)
        .set_precision(o.precision == "fast" ? FlatPrecision::Fast : FlatPrecision::Exact);
  }
  return s;
}

// Exact ground truth over the vectors (and ids) a loaded index holds; behind transforms, in the
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
  } else {
    const auto& ivf = dynamic_cast<const IndexIVFFlat&>(index);
    for (int l = 0; l < ivf.n_lists(); ++l) {
      const std::vector<idx_t> ids = ivf.list_ids(l);
      if (ids.empty()) continue;
      const std::vector<float> vectors = ivf.list_vectors(l);
      exact.add_with_ids(static_cast<idx_t>(ids.size()), vectors.data(), ids.data());
    }
  }
  if (chain.transforms.empty()) {
    search_into(exact, queries, truth);
    return;
  }
  const Matrix<float> transformed{queries.rows, index.dim(),
                                  apply_chain(chain.transforms, queries.rows, queries.data.data())};
  search_into(exact, transformed, truth);
}

std::string distance_text(float d) { return fmt::format("{:.6g}", d); }

void run_search(const SearchOptions& o) {
  check_options(o);
  const Device device = Device::parse(o.device);
  apply_threads(o.threads);

  const Data data = load_data(o);
  const idx_t nq = data.queries.rows;
  const bool from_file = !o.index_path.empty();
  Searched searched;
  if (from_file) {
    searched = load_index(o, device, static_cast<int>(data.queries.cols));
  } else {
    auto flat = std::make_unique<IndexFlat>(static_cast<int>(data.base.cols),
                                            parse_metric(o.metric), device);
    flat->set_precision(o.precision == "fast" ? FlatPrecision::Fast : FlatPrecision::Exact);
    searched.add_seconds = time_seconds([&] { flat->add(data.base.rows, data.base.data.data()); });
    searched.index = std::move(flat);
    searched.name = "IndexFlat";
  }
  const Index& index = *searched.index;
  const Metric metric = index.metric();
  const idx_t n = index.ntotal();
  const int dim = index.dim();

  // Ground truth from a file is read before the search so a bad file fails fast.
  std::optional<Matrix<idx_t>> gt;
  std::string gt_source;
  double gt_seconds = 0.0;
  if (!o.gt_path.empty()) {
    gt = read_labels(o.gt_path);
    if (gt->rows < nq) {
      throw InvalidArgument(fmt::format("ground truth {} has {} rows, fewer than the {} queries",
                                        o.gt_path, gt->rows, nq));
    }
    if (gt->cols < o.k) {
      throw InvalidArgument(
          fmt::format("ground truth {} has {} neighbours per query, fewer than k = {}", o.gt_path,
                      gt->cols, o.k));
    }
    gt_source = fmt::format("file {}", o.gt_path);
  }

  Results results = make_results(nq, o.k);
  std::vector<double> search_seconds;
  for (int r = 0; r < o.repeat; ++r) {
    search_seconds.push_back(time_seconds([&] { search_into(index, data.queries, results); }));
  }
  const double search_median = median(search_seconds);

  const bool want_gt = !gt && (o.compute_gt || o.generate > 0);
  if (want_gt) {
    // The CPU IndexFlat is exact: blocked sgemm distances with a full top-k per query. Over a
    // base from the command line (ids 0..n-1, as the index was built), or over the vectors a
    // loaded index holds, with their ids.
    Results truth = make_results(nq, o.k);
    const bool over_base = data.base.rows > 0;
    gt_seconds = time_seconds([&] {
      if (over_base) {
        IndexFlat exact(static_cast<int>(data.base.cols), metric, Device::cpu());
        exact.add(data.base.rows, data.base.data.data());
        search_into(exact, data.queries, truth);
      } else {
        exact_search_over_stored(*searched.index, data.queries, truth);
      }
    });
    gt = std::move(truth.labels);
    gt_source = !from_file  ? "exact CPU IndexFlat"
                : over_base ? "exact CPU IndexFlat over the generated base"
                : searched.transforms.empty()
                    ? "exact CPU IndexFlat over the index's vectors"
                    : "exact CPU IndexFlat over the index's transformed vectors";
  }
  std::optional<double> recall;
  if (gt) recall = recall_at_k(results.labels, *gt, o.k);

  std::optional<OutputPaths> out;
  if (!o.out_path.empty()) {
    out = output_paths(o.out_path);
    write_results(*out, results);
  }

  const std::string device_name =
      device.is_cpu() ? std::string("cpu") : cuda_device_name(device.ordinal);
  const int threads = config().num_threads > 0 ? config().num_threads : omp_get_max_threads();
  const idx_t show = std::min<idx_t>(o.show, nq);

  if (o.json) {
    nlohmann::ordered_json j;
    j["command"] = "search";
    j["version"] = kVersionString;
    j["index"] = searched.name;
    if (from_file) {
      nlohmann::ordered_json transforms = nlohmann::ordered_json::array();
      for (const VectorTransform* t : searched.transforms) {
        transforms.push_back(
            {{"transform", describe_transform(*t)}, {"d_in", t->d_in()}, {"d_out", t->d_out()}});
      }
      j["transforms"] = transforms;
      j["index_file"] = o.index_path;
      j["n_lists"] = searched.ivf != nullptr ? nlohmann::ordered_json(searched.ivf->n_lists())
                                             : nlohmann::ordered_json(nullptr);
      j["n_probe"] = searched.ivf != nullptr ? nlohmann::ordered_json(searched.ivf->n_probe())
                                             : nlohmann::ordered_json(nullptr);
    }
    j["metric"] = to_string(metric);
    j["device"] = device.to_string();
    j["device_name"] = device_name;
    j["precision"] = o.precision;
    j["cpu_threads"] = threads;
    j["k"] = o.k;
    nlohmann::ordered_json d;
    if (o.generate > 0) {
      d["source"] = "generated";
      d["clusters"] = o.mixture.n_clusters;
      d["center_stddev"] = json_number(o.mixture.center_stddev);
      d["noise_stddev"] = json_number(o.mixture.noise_stddev);
      d["seed"] = o.mixture.seed;
    } else {
      d["source"] = "files";
      if (!from_file) d["base"] = o.base_path;
      d["queries"] = o.queries_path;
    }
    d["n"] = n;
    d["nq"] = nq;
    d["dim"] = dim;
    j["data"] = d;
    nlohmann::ordered_json t;
    t[o.generate > 0 ? "generate" : "load"] = data.seconds;
    if (searched.load_seconds) t["load_index"] = *searched.load_seconds;
    if (searched.add_seconds) t["add"] = *searched.add_seconds;
    t["search"] = search_median;
    if (want_gt) t["ground_truth"] = gt_seconds;
    j["timings_s"] = t;
    j["search_runs_s"] = search_seconds;
    j["queries_per_s"] = static_cast<double>(nq) / search_median;
    if (recall) {
      j["recall"] = {{"k", o.k}, {"value", *recall}, {"ground_truth", gt_source}};
    } else {
      j["recall"] = nullptr;
    }
    if (out) {
      j["output"] = {{"labels", out->labels}, {"distances", out->distances}};
    } else {
      j["output"] = nullptr;
    }
    nlohmann::ordered_json shown = nlohmann::ordered_json::array();
    for (idx_t q = 0; q < show; ++q) {
      // Missing results carry infinite distances, which JSON cannot hold: they become null.
      const auto begin = static_cast<std::ptrdiff_t>(q * o.k);
      shown.push_back({{"query", q},
                       {"labels", std::vector<idx_t>(results.labels.data.begin() + begin,
                                                     results.labels.data.begin() + begin + o.k)},
                       {"distances", std::vector<float>(results.distances.begin() + begin,
                                                        results.distances.begin() + begin + o.k)}});
    }
    j["results"] = shown;
    fmt::print("{}\n", j.dump(2));
    return;
  }

  const std::string settings =
      searched.ivf != nullptr
          ? fmt::format(", {} lists, n_probe {}", searched.ivf->n_lists(), searched.ivf->n_probe())
          : std::string(o.precision == "fast" ? ", fast" : "");
  const std::string chain_text =
      searched.transforms.empty() ? std::string() : describe_chain(searched.transforms) + " + ";
  fmt::print(
      "knnx {}  search  {}{} ({}{}) on {}{}  k = {}\n\n", kVersionString, chain_text, searched.name,
      to_string(metric), settings, device.to_string(),
      device.is_cpu() ? fmt::format(" ({} threads)", threads) : fmt::format(" ({})", device_name),
      o.k);
  std::vector<std::vector<std::string>> rows;
  if (from_file) {
    rows.push_back({"index", fmt::format("{}  ({} x {})", o.index_path, n, dim)});
    if (o.generate > 0) {
      rows.push_back({"queries", fmt::format("generated: {} x {} (Gaussian mixture: {} clusters, "
                                             "seed {})",
                                             nq, dim, o.mixture.n_clusters, o.mixture.seed)});
    } else {
      rows.push_back({"queries", fmt::format("{}  ({} x {})", o.queries_path, nq, dim)});
    }
  } else if (o.generate > 0) {
    rows.push_back({"data", fmt::format("Gaussian mixture: {} clusters, center stddev {}, noise "
                                        "stddev {}, seed {}",
                                        o.mixture.n_clusters, o.mixture.center_stddev,
                                        o.mixture.noise_stddev, o.mixture.seed)});
    rows.push_back({"base", fmt::format("{} x {}", n, dim)});
    rows.push_back({"queries", fmt::format("{} x {}", nq, dim)});
  } else {
    rows.push_back({"base", fmt::format("{}  ({} x {})", o.base_path, n, dim)});
    rows.push_back({"queries", fmt::format("{}  ({} x {})", o.queries_path, nq, dim)});
  }
  fmt::print("{}\n", render_table(rows));

  std::vector<std::vector<std::string>> timing = {{"step", "time", "rate"}};
  timing.push_back({o.generate > 0 ? "generate" : "load", format_duration(data.seconds), ""});
  if (searched.load_seconds) {
    timing.push_back({"load index", format_duration(*searched.load_seconds),
                      format_rate(static_cast<double>(n) / *searched.load_seconds, "vectors/s")});
  }
  if (searched.add_seconds) {
    timing.push_back({"add", format_duration(*searched.add_seconds),
                      format_rate(static_cast<double>(n) / *searched.add_seconds, "vectors/s")});
  }
  timing.push_back(
      {"search", format_duration(search_median),
       format_rate(static_cast<double>(nq) / search_median, "queries/s") +
           (o.repeat > 1 ? fmt::format("  (median of {} runs)", o.repeat) : std::string())});
  if (want_gt) {
    timing.push_back({"ground truth", format_duration(gt_seconds), gt_source});
  }
  fmt::print("{}\n", render_table(timing));

  if (recall) {
    fmt::print("recall@{}  {:.4f}  (ground truth: {})\n\n", o.k, *recall, gt_source);
  }
  if (show > 0) {
    fmt::print("first {} of {} queries: neighbour labels, then distances\n", show, nq);
    std::vector<std::vector<std::string>> res;
    for (idx_t q = 0; q < show; ++q) {
      std::vector<std::string> labels = {fmt::format("{}", q)};
      std::vector<std::string> dists = {""};
      for (int j = 0; j < o.k; ++j) {
        const std::size_t at = static_cast<std::size_t>(q * o.k + j);
        labels.push_back(fmt::format("{}", results.labels.data[at]));
        dists.push_back(distance_text(results.distances[at]));
      }
      res.push_back(std::move(labels));
      res.push_back(std::move(dists));
    }
    fmt::print("{}\n", render_table(res, "  "));
  }
  if (out) {
    fmt::print("wrote labels to {} and distances to {}\n", out->labels, out->distances);
  }
}

std::string check_out_path(const std::string& path) {
  if (ends_with(path, ".npy") || ends_with(path, ".ivecs")) return {};
  return fmt::format("must end in .npy or .ivecs, got \"{}\"", path);
}

}  // namespace

Command add_search_command(CLI::App& parent) {
  auto o = std::make_shared<SearchOptions>();
  CLI::App* app = parent.add_subcommand(
      "search",
      "k-NN search with an exact IndexFlat over vectors from files or generated data, or with "
      "an index file; prints timings and recall@k");
  app->footer(
      "Data: --base and --queries read .fvecs, .bvecs or .npy files; --generate draws base\n"
      "vectors and queries from a clustered Gaussian mixture (deterministic for --seed).\n"
      "Index: without --index, an exact IndexFlat is built over the base. --index FILE loads a\n"
      "saved index (`knnx build`, write_index) instead, with its metric; queries then come from\n"
      "--queries, or from --generate with the mixture options the index was built with.\n"
      "Recall: against --gt (.ivecs or .npy, one row of true neighbour ids per query), or\n"
      "against ground truth computed with the exact CPU IndexFlat when data is generated (over\n"
      "the generated base) or --compute-gt is given (over --base, or over the vectors the\n"
      "--index file holds).\n"
      "Results (--out): FILE.npy gets int64 labels (nq x k) and FILE.distances.npy float32\n"
      "distances; FILE.ivecs gets int32 labels and FILE.distances.fvecs the distances.\n"
      "Missing results (k larger than the base) have label -1.\n");

  auto* base = app->add_option("--base", o->base_path, "Base vectors (.fvecs, .bvecs, .npy)");
  auto* queries =
      app->add_option("--queries", o->queries_path, "Query vectors (.fvecs, .bvecs, .npy)");
  auto* index = app->add_option("--index", o->index_path,
                                "Search this index file instead of building an IndexFlat");
  base->needs(queries);
  base->excludes(index);
  auto* generate = add_generate_options(
      app, o->generate, o->mixture,
      "Generate N base vectors and --nq queries from the built-in mixture (with --index: the "
      "queries, and the base as ground truth)");
  generate->excludes(base)->excludes(queries);
  app->add_option("--nq", o->nq,
                  fmt::format("Number of queries: generated (default {}) or the first NQ of "
                              "--queries (default all)",
                              kDefaultGeneratedQueries))
      ->check(CLI::Range(idx_t{1}, idx_t{1} << 40));
  app->add_option("--n-probe", o->n_probe,
                  "IVF index from --index: lists scanned per query (default: as saved)")
      ->check(CLI::Range(1, 1 << 30))
      ->needs(index);

  app->add_option("-k,--k", o->k, "Neighbours per query")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxK));
  app->add_option("--metric", o->metric,
                  "Distance: l2 (squared Euclidean) or ip (inner product); an --index file has "
                  "its own")
      ->capture_default_str()
      ->check(CLI::IsMember({"l2", "ip"}))
      ->excludes(index);
  app->add_option("--device", o->device, "cpu, cuda or cuda:N (where the index is built or loaded)")
      ->capture_default_str()
      ->check(CLI::Validator(check_device, "DEVICE", "device"));
  app->add_option("--precision", o->precision,
                  "GPU distances: exact (float32) or fast (tf32 candidates re-ranked exactly); "
                  "the CPU is always exact")
      ->capture_default_str()
      ->check(CLI::IsMember({"exact", "fast"}));
  auto* gt = app->add_option("--gt", o->gt_path,
                             "Ground-truth neighbour ids (.ivecs or .npy) for recall@k");
  app->add_flag("--compute-gt", o->compute_gt,
                "Compute ground truth with the exact CPU IndexFlat and report recall@k")
      ->excludes(gt);
  app->add_option("--out", o->out_path, "Write results to FILE.npy or FILE.ivecs (see below)")
      ->check(CLI::Validator(check_out_path, "FILE", "output path"));
  app->add_option("--repeat", o->repeat, "Run the search this many times; report the median")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app->add_option("--threads", o->threads, "CPU threads (sets KNNX_NUM_THREADS; 0: OpenMP default)")
      ->check(CLI::Range(0, 4096));
  app->add_option("--show", o->show, "Print the neighbours of the first N queries")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app->add_flag("--json", o->json, "Print one JSON object instead of text");

  return {app, [o] { run_search(*o); }};
}

}  // namespace knnx::cli
