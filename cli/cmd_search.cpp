// knnx search: k-NN search over vectors from files or from the built-in Gaussian mixture, with
// timings, optional recall@k against ground truth, and optional result files.
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
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
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
  // ...or generated.
  idx_t generate = 0;
  MixtureSpec mixture;
  std::optional<idx_t> nq;

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

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

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
  Matrix<float> base;
  Matrix<float> queries;
  double seconds = 0.0;  // reading or generating
};

Data load_data(const SearchOptions& o) {
  Data data;
  const Stopwatch watch;
  if (o.generate > 0) {
    const GaussianMixture mixture(o.mixture);
    data.base = mixture.sample(o.generate, kBaseStream).vectors;
    data.queries = mixture.sample(o.nq.value_or(kDefaultGeneratedQueries), kQueryStream).vectors;
  } else {
    data.base = read_vectors(o.base_path);
    data.queries = read_vectors(o.queries_path, o.nq.value_or(-1));
    if (data.base.cols != data.queries.cols) {
      throw InvalidArgument(fmt::format(
          "base vectors ({}) have dimension {} but queries ({}) have dimension {}", o.base_path,
          data.base.cols, o.queries_path, data.queries.cols));
    }
    if (data.base.rows == 0) {
      throw InvalidArgument(fmt::format("base file {} holds no vectors", o.base_path));
    }
    if (data.queries.rows == 0) {
      throw InvalidArgument(fmt::format("queries file {} holds no vectors", o.queries_path));
    }
  }
  data.seconds = watch.seconds();
  return data;
}

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
  if (o.generate == 0 && o.base_path.empty()) {
    throw UsageError("give the data: --base FILE --queries FILE, or --generate N");
  }
}

std::string distance_text(float d) { return fmt::format("{:.6g}", d); }

// A float option as the JSON number it was written as (0.2, not 0.20000000298023224).
double json_number(float f) { return std::stod(fmt::format("{}", f)); }

void run_search(const SearchOptions& o) {
  check_options(o);
  const Metric metric = parse_metric(o.metric);
  const Device device = Device::parse(o.device);
  if (o.threads) {
    Config c = config();
    c.num_threads = *o.threads;
    set_config(c);
  }

  const Data data = load_data(o);
  const idx_t n = data.base.rows;
  const idx_t nq = data.queries.rows;
  const int dim = static_cast<int>(data.base.cols);

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
      throw InvalidArgument(fmt::format(
          "ground truth {} has {} neighbours per query, fewer than k = {}", o.gt_path, gt->cols,
          o.k));
    }
    gt_source = fmt::format("file {}", o.gt_path);
  }

  IndexFlat index(dim, metric, device);
  index.set_precision(o.precision == "fast" ? FlatPrecision::Fast : FlatPrecision::Exact);
  const double add_seconds = time_seconds([&] { index.add(n, data.base.data.data()); });

  Results results = make_results(nq, o.k);
  std::vector<double> search_seconds;
  for (int r = 0; r < o.repeat; ++r) {
    search_seconds.push_back(time_seconds([&] { search_into(index, data.queries, results); }));
  }
  const double search_median = median(search_seconds);

  const bool want_gt = !gt && (o.compute_gt || o.generate > 0);
  if (want_gt) {
    // The CPU IndexFlat is exact: blocked sgemm distances with a full top-k per query.
    Results truth = make_results(nq, o.k);
    gt_seconds = time_seconds([&] {
      IndexFlat exact(dim, metric, Device::cpu());
      exact.add(n, data.base.data.data());
      search_into(exact, data.queries, truth);
    });
    gt = std::move(truth.labels);
    gt_source = "exact CPU IndexFlat";
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
    j["index"] = "IndexFlat";
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
      d["base"] = o.base_path;
      d["queries"] = o.queries_path;
    }
    d["n"] = n;
    d["nq"] = nq;
    d["dim"] = dim;
    j["data"] = d;
    nlohmann::ordered_json t;
    t[o.generate > 0 ? "generate" : "load"] = data.seconds;
    t["add"] = add_seconds;
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

  fmt::print("knnx {}  search  IndexFlat ({}{}) on {}{}  k = {}\n\n", kVersionString,
             to_string(metric), o.precision == "fast" ? ", fast" : "", device.to_string(),
             device.is_cpu() ? fmt::format(" ({} threads)", threads)
                             : fmt::format(" ({})", device_name),
             o.k);
  std::vector<std::vector<std::string>> rows;
  if (o.generate > 0) {
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
  timing.push_back({"add", format_duration(add_seconds),
                    format_rate(static_cast<double>(n) / add_seconds, "vectors/s")});
  timing.push_back(
      {"search", format_duration(search_median),
       format_rate(static_cast<double>(nq) / search_median, "queries/s") +
           (o.repeat > 1 ? fmt::format("  (median of {} runs)", o.repeat) : std::string())});
  if (want_gt) {
    timing.push_back({"ground truth", format_duration(gt_seconds), "exact CPU IndexFlat"});
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

// CLI11 validator: the device spec must parse.
std::string check_device(const std::string& spec) {
  try {
    Device::parse(spec);
    return {};
  } catch (const InvalidArgument& e) {
    return e.what();
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
      "Exact k-NN search (IndexFlat) over vectors from files or generated data; prints timings "
      "and recall@k");
  app->footer(
      "Data: --base and --queries read .fvecs, .bvecs or .npy files; --generate draws base\n"
      "vectors and queries from a clustered Gaussian mixture (deterministic for --seed).\n"
      "Recall: against --gt (.ivecs or .npy, one row of true neighbour ids per query), or\n"
      "against ground truth computed with the exact CPU IndexFlat when data is generated or\n"
      "--compute-gt is given.\n"
      "Results (--out): FILE.npy gets int64 labels (nq x k) and FILE.distances.npy float32\n"
      "distances; FILE.ivecs gets int32 labels and FILE.distances.fvecs the distances.\n"
      "Missing results (k larger than the base) have label -1.\n");

  auto* base = app->add_option("--base", o->base_path, "Base vectors (.fvecs, .bvecs, .npy)");
  auto* queries =
      app->add_option("--queries", o->queries_path, "Query vectors (.fvecs, .bvecs, .npy)");
  base->needs(queries);
  queries->needs(base);
  auto* generate =
      app->add_option("--generate", o->generate, "Generate N base vectors from the built-in mixture")
          ->check(CLI::Range(idx_t{1}, idx_t{1} << 40));
  generate->excludes(base)->excludes(queries);
  app->add_option("--dim", o->mixture.dim, "Dimension of generated vectors")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxDim))
      ->needs(generate);
  app->add_option("--nq", o->nq,
                  fmt::format("Number of queries: generated (default {}) or the first NQ of "
                              "--queries (default all)",
                              kDefaultGeneratedQueries))
      ->check(CLI::Range(idx_t{1}, idx_t{1} << 40));
  app->add_option("--clusters", o->mixture.n_clusters, "Clusters of the generated mixture")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24))
      ->needs(generate);
  app->add_option("--center-stddev", o->mixture.center_stddev,
                  "Spread of generated cluster centres")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1e6f))
      ->needs(generate);
  app->add_option("--noise-stddev", o->mixture.noise_stddev,
                  "Spread of generated points around their centre")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1e6f))
      ->needs(generate);
  app->add_option("--seed", o->mixture.seed, "Seed of the generated data")
      ->capture_default_str()
      ->needs(generate);

  app->add_option("-k,--k", o->k, "Neighbours per query")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxK));
  app->add_option("--metric", o->metric, "Distance: l2 (squared Euclidean) or ip (inner product)")
      ->capture_default_str()
      ->check(CLI::IsMember({"l2", "ip"}));
  app->add_option("--device", o->device, "cpu, cuda or cuda:N")
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
