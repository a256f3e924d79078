// knnx build: builds an index (any index_factory spec: "Flat", "IVF<n>,Flat", with transforms
// such as "PCA64,IVF1024,Flat" in front) from base vectors in a file or from the built-in
// Gaussian mixture, trains it (the transforms, then the IVF k-means, on all or a sample of the
// base), adds the base in batches and saves it with write_index. A base file is read in row
// ranges, never whole, so it may be larger than memory. Progress of training and adding goes to
// stderr.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "index_chain.hpp"
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/metric.hpp"
#include "knnx/synthetic.hpp"
#include "knnx/vector_io.hpp"
#include "knnx/version.hpp"
#include "progress.hpp"

namespace knnx::cli {
namespace {

// Vectors per add() call: small enough for a live progress line, large enough that per-call
// overhead (GPU transfers, list bookkeeping) stays negligible.
constexpr idx_t kAddChunkRows = 1 << 16;

struct BuildOptions {
  std::string base_path;
  idx_t generate = 0;
  MixtureSpec mixture;

  std::string spec = "Flat";
  std::string metric = "l2";
  std::string device = "cpu";
  std::optional<idx_t> train_size;
  std::optional<int> n_probe;
  std::optional<int> kmeans_iter;
  std::optional<std::uint64_t> kmeans_seed;
  std::string out_path;
  std::optional<int> threads;
  bool quiet = false;
  double progress_every = 10.0;  // seconds between progress lines in a log
  bool json = false;
};

// The base vectors: generated in memory, or a file read in row ranges (never held whole, so a
// file larger than memory can be indexed: training reads a sample, adding reads batches).
class BaseVectors {
 public:
  explicit BaseVectors(Matrix<float> generated) : generated_(std::move(generated)) {}
  explicit BaseVectors(const std::string& path) : file_(VectorFileRows(path)) {}

  idx_t rows() const { return file_ ? file_->rows() : generated_.rows; }
  idx_t cols() const { return file_ ? file_->cols() : generated_.cols; }
  // Rows [first, first + n) into out (n * cols() floats).
  void read(idx_t first, idx_t n, float* out) const {
    if (file_) {
      file_->read(first, n, out);
    } else {
      std::copy_n(generated_.row(first), n * generated_.cols, out);
    }
  }

 private:
  Matrix<float> generated_;
  std::optional<VectorFileRows> file_;
};

// Vectors read by default to train on (all of a smaller base): enough for k-means at its
// max_points_per_centroid for n_lists lists, and at least 2^20 for the transforms.
idx_t default_train_rows(const IndexIVFFlat* ivf) {
  const idx_t kmeans =
      ivf != nullptr ? idx_t{ivf->kmeans_params().max_points_per_centroid} * ivf->n_lists() : 0;
  return std::max(idx_t{1} << 20, kmeans);
}

// train_size rows of base chosen uniformly without replacement (seeded; selection sampling,
// which needs no memory of the base's size), in their base order. Rows are read a span of
// kAddChunkRows at a time where the sample is dense in it, one by one where it is sparse.
Matrix<float> sample_rows(const BaseVectors& base, idx_t train_size, std::uint64_t seed) {
  const idx_t d = base.cols();
  Matrix<float> out{train_size, d, {}};
  out.data.resize(static_cast<std::size_t>(train_size * d));
  if (train_size == base.rows()) {
    base.read(0, train_size, out.data.data());
    return out;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  idx_t taken = 0;
  std::vector<idx_t> picked;
  std::vector<float> span;
  for (idx_t first = 0; first < base.rows() && taken < train_size; first += kAddChunkRows) {
    const idx_t last = std::min(base.rows(), first + kAddChunkRows);
    picked.clear();
    for (idx_t row = first; row < last && taken + static_cast<idx_t>(picked.size()) < train_size;
         ++row) {
      // Take this row with probability (still needed) / (still left).
      const auto needed =
          static_cast<double>(train_size - taken) - static_cast<double>(picked.size());
      if (static_cast<double>(base.rows() - row) * u(rng) < needed) picked.push_back(row);
    }
    if (picked.empty()) continue;
    if (static_cast<idx_t>(picked.size()) * 16 < last - first) {
      for (idx_t row : picked) base.read(row, 1, out.row(taken++));
    } else {
      const idx_t n = picked.back() - picked.front() + 1;
      span.resize(static_cast<std::size_t>(n * d));
      base.read(picked.front(), n, span.data());
      for (idx_t row : picked) {
        std::copy_n(span.data() + (row - picked.front()) * d, d, out.row(taken++));
      }
    }
  }
  return out;
}

struct TrainReport {
  bool ivf = false;       // k-means ran (the fields below describe it)
  idx_t rows = 0;         // given to train()
  idx_t sample_rows = 0;  // k-means clusters at most max_points_per_centroid x n_lists of them
  int iterations = 0;
  std::vector<double> objective;
  double seconds = 0.0;
};

// Trains index (its transforms, if any, then the IVF k-means of ivf, its innermost index, if
// it is one) on all or a --train-size sample of the base.
TrainReport train_index(Index& index, IndexIVFFlat* ivf, const BaseVectors& base,
                        const BuildOptions& o, ProgressStyle progress) {
  KMeansParams params = ivf != nullptr ? ivf->kmeans_params() : KMeansParams{};
  if (o.kmeans_iter) params.n_iter = *o.kmeans_iter;
  if (o.kmeans_seed) params.seed = *o.kmeans_seed;
  const idx_t rows = std::min(o.train_size.value_or(default_train_rows(ivf)), base.rows());
  if (ivf != nullptr && rows < ivf->n_lists()) {
    throw InvalidArgument(
        fmt::format("--index {} needs at least {} training vectors, but {} {} available", o.spec,
                    ivf->n_lists(), rows, o.train_size ? "--train-size makes" : "the base has"));
  }
  TrainReport report;
  report.ivf = ivf != nullptr;
  report.rows = rows;
  // The k-means progress line; transforms train before its first iteration.
  Progress bar("train", ivf != nullptr ? params.n_iter : 1, ivf != nullptr ? "iterations" : "steps",
               progress);
  if (ivf != nullptr) {
    report.sample_rows =
        std::min<idx_t>(rows, idx_t{params.max_points_per_centroid} * ivf->n_lists());
    KMeansParams watched = params;
    watched.progress = [&](int iter, double objective, double) {
      report.objective.push_back(objective);
      bar.update(iter + 1, fmt::format("objective {:.6g}", objective));
    };
    ivf->set_kmeans_params(watched);
  }

  const Stopwatch watch;
  const Matrix<float> sample = sample_rows(base, rows, params.seed);
  index.train(sample.rows, sample.data.data());
  report.seconds = watch.seconds();
  if (ivf == nullptr) bar.update(1);
  bar.finish();
  if (ivf != nullptr) ivf->set_kmeans_params(params);  // what the file keeps: no callback here
  report.iterations = static_cast<int>(report.objective.size());
  return report;
}

// Adds every base vector, kAddChunkRows at a time through one reused buffer (a file's rows are
// read batch by batch: host memory beyond the index stays one batch).
double add_all(Index& index, const BaseVectors& base, ProgressStyle progress) {
  Progress bar("add", static_cast<double>(base.rows()), "vectors", progress);
  const Stopwatch watch;
  std::vector<float> batch(
      static_cast<std::size_t>(std::min(kAddChunkRows, base.rows()) * base.cols()));
  for (idx_t done = 0; done < base.rows();) {
    const idx_t n = std::min(kAddChunkRows, base.rows() - done);
    base.read(done, n, batch.data());
    index.add(n, batch.data());
    done += n;
    bar.update(static_cast<double>(done));
  }
  const double seconds = watch.seconds();
  bar.finish();
  return seconds;
}

void run_build(const BuildOptions& o) {
  if (o.generate == 0 && o.base_path.empty()) {
    throw UsageError("give the base vectors: --base FILE, or --generate N");
  }
  const IndexSpec spec = parse_index_spec(o.spec);
  const bool ivf_spec = spec.kind == IndexSpec::Kind::IVFFlat ||
                        spec.kind == IndexSpec::Kind::IVFSQ || spec.kind == IndexSpec::Kind::IVFPQ;
  if (!ivf_spec && (o.n_probe || o.kmeans_iter || o.kmeans_seed)) {
    throw UsageError(fmt::format(
        "--n-probe, --kmeans-iter and --kmeans-seed apply to IVF indexes, not to --index {}",
        o.spec));
  }
  const bool sq_trains =
      spec.kind == IndexSpec::Kind::SQ && (spec.sq_type == ScalarQuantizer::Type::QT_8bit ||
                                           spec.sq_type == ScalarQuantizer::Type::QT_4bit);
  if (!ivf_spec && !sq_trains && spec.transforms.empty() && o.train_size) {
    throw UsageError(fmt::format(
        "--train-size applies to indexes that train (IVF, SQ8, SQ4 or transforms), not to "
        "--index {}",
        o.spec));
  }
  const Metric metric = parse_metric(o.metric);
  const Device device = Device::parse(o.device);
  apply_threads(o.threads);
  const ProgressStyle progress = progress_style(o.quiet, o.progress_every);

  std::optional<BaseVectors> base;
  const double load_seconds = time_seconds([&] {
    if (o.generate > 0) {
      base.emplace(GaussianMixture(o.mixture).sample(o.generate, kBaseStream).vectors);
    } else {
      base.emplace(o.base_path);  // opened and checked; rows are read while training and adding
    }
  });
  if (base->rows() == 0)
    throw InvalidArgument(fmt::format("base file {} holds no vectors", o.base_path));
  const idx_t n = base->rows();
  const int dim = static_cast<int>(base->cols());
  if (ivf_spec && spec.n_lists > n) {
    // Checked before the index (and its n_lists lists) is made.
    throw InvalidArgument(
        fmt::format("--index {} has more lists than the {} base vectors", o.spec, n));
  }

  std::unique_ptr<Index> index = index_factory(dim, spec, metric, device);
  const IndexChain chain = index_chain(*index);
  auto* ivf = dynamic_cast<IndexIVFFlat*>(chain.inner);
  // IVF-SQ's and IVF-PQ's k-means settings and probe count are set here; their training reports
  // no k-means progress (the quantizer trains after the k-means).
  auto* ivf_sq = dynamic_cast<IndexIVFScalarQuantizer*>(chain.inner);
  auto* ivf_pq = dynamic_cast<IndexIVFPQ*>(chain.inner);
  const auto set_kmeans = [&](auto* codes_ivf) {
    if (codes_ivf == nullptr || !(o.kmeans_iter || o.kmeans_seed)) return;
    KMeansParams p = codes_ivf->kmeans_params();
    if (o.kmeans_iter) p.n_iter = *o.kmeans_iter;
    if (o.kmeans_seed) p.seed = *o.kmeans_seed;
    codes_ivf->set_kmeans_params(p);
  };
  set_kmeans(ivf_sq);
  set_kmeans(ivf_pq);
  std::optional<TrainReport> trained;
  if (ivf != nullptr || !chain.transforms.empty() || !chain.inner->is_trained()) {
    trained = train_index(*index, ivf, *base, o, progress);
    if (ivf != nullptr && o.n_probe) ivf->set_n_probe(*o.n_probe);
  }
  if (ivf_sq != nullptr && o.n_probe) ivf_sq->set_n_probe(*o.n_probe);
  if (ivf_pq != nullptr && o.n_probe) ivf_pq->set_n_probe(*o.n_probe);
  const double add_seconds = add_all(*index, *base, progress);
  const double write_seconds = time_seconds([&] { write_index(*index, o.out_path); });
  const IndexFileInfo file = read_index_info(o.out_path);

  const std::string index_name = index_class_name(*chain.inner);
  const std::string device_name =
      device.is_cpu() ? std::string("cpu") : cuda_device_name(device.ordinal);
  const int threads = config().num_threads > 0 ? config().num_threads : omp_get_max_threads();

  if (o.json) {
    nlohmann::ordered_json j;
    j["command"] = "build";
    j["version"] = kVersionString;
    j["index_spec"] = o.spec;
    j["index"] = index_name;
    j["metric"] = to_string(metric);
    j["device"] = device.to_string();
    j["device_name"] = device_name;
    j["cpu_threads"] = threads;
    nlohmann::ordered_json d;
    if (o.generate > 0) {
      d["source"] = "generated";
      add_mixture_fields(d, o.mixture);
    } else {
      d["source"] = "files";
      d["base"] = o.base_path;
    }
    d["n"] = n;
    d["dim"] = dim;
    j["data"] = d;
    nlohmann::ordered_json transforms = nlohmann::ordered_json::array();
    for (const VectorTransform* t : chain.transforms) {
      transforms.push_back(
          {{"transform", describe_transform(*t)}, {"d_in", t->d_in()}, {"d_out", t->d_out()}});
    }
    j["transforms"] = transforms;
    j["stored_dim"] = chain.inner->dim();
    if (ivf != nullptr) {
      const KMeansParams& p = ivf->kmeans_params();
      j["n_lists"] = ivf->n_lists();
      j["n_probe"] = ivf->n_probe();
      j["train"] = {{"rows", trained->rows},
                    {"kmeans_rows", trained->sample_rows},
                    {"seconds", trained->seconds},
                    {"iterations", trained->iterations},
                    {"seed", p.seed},
                    {"objective", trained->objective},
                    {"imbalance_factor", ivf->imbalance_factor()}};
    } else {
      j["n_lists"] = ivf_sq   ? nlohmann::ordered_json(ivf_sq->n_lists())
                     : ivf_pq ? nlohmann::ordered_json(ivf_pq->n_lists())
                              : nullptr;
      j["n_probe"] = ivf_sq   ? nlohmann::ordered_json(ivf_sq->n_probe())
                     : ivf_pq ? nlohmann::ordered_json(ivf_pq->n_probe())
                              : nullptr;
      j["train"] =
          trained ? nlohmann::ordered_json{{"rows", trained->rows}, {"seconds", trained->seconds}}
                  : nlohmann::ordered_json(nullptr);
    }
    nlohmann::ordered_json t;
    t[o.generate > 0 ? "generate" : "load"] = load_seconds;
    if (trained) t["train"] = trained->seconds;
    t["add"] = add_seconds;
    t["write"] = write_seconds;
    j["timings_s"] = t;
    j["output"] = {{"path", o.out_path}, {"bytes", file.file_size}};
    j["peak_host_bytes"] = peak_host_bytes();
    fmt::print("{}\n", j.dump(2));
    return;
  }

  fmt::print(
      "knnx {}  build  {} ({}) on {}{}\n\n", kVersionString, o.spec, to_string(metric),
      device.to_string(),
      device.is_cpu() ? fmt::format(" ({} threads)", threads) : fmt::format(" ({})", device_name));
  std::vector<std::vector<std::string>> rows;
  if (o.generate > 0) {
    rows.push_back({"base", fmt::format("generated: {} x {}, {} clusters, seed {}", n, dim,
                                        o.mixture.n_clusters, o.mixture.seed)});
  } else {
    rows.push_back({"base", fmt::format("{}  ({} x {})", o.base_path, n, dim)});
  }
  if (!chain.transforms.empty()) {
    rows.push_back({"transforms", describe_chain(chain.transforms)});
  }
  if (ivf != nullptr) {
    rows.push_back({"index", fmt::format("{}: {} lists, n_probe {}, imbalance {:.3f}", index_name,
                                         ivf->n_lists(), ivf->n_probe(), ivf->imbalance_factor())});
  } else if (ivf_pq != nullptr) {
    rows.push_back(
        {"index", fmt::format("{}: {} lists, n_probe {}, {} bytes a vector", index_name,
                              ivf_pq->n_lists(), ivf_pq->n_probe(), ivf_pq->pq().code_size())});
  } else {
    rows.push_back({"index", index_name});
  }
  fmt::print("{}\n", render_table(rows));

  std::vector<std::vector<std::string>> timing = {{"step", "time", "rate"}};
  timing.push_back({o.generate > 0 ? "generate" : "load", format_duration(load_seconds), ""});
  if (trained) {
    std::string what;
    if (!chain.transforms.empty()) {
      what = fmt::format("transforms on {} vectors{}", trained->rows, trained->ivf ? ", " : "");
    }
    if (trained->ivf) {
      what += fmt::format("k-means: {} iterations on {} of {} vectors{}", trained->iterations,
                          trained->sample_rows, trained->rows,
                          trained->objective.empty()
                              ? std::string()
                              : fmt::format(", objective {:.6g}", trained->objective.back()));
    }
    timing.push_back({"train", format_duration(trained->seconds), what});
  }
  timing.push_back({"add", format_duration(add_seconds),
                    format_rate(static_cast<double>(n) / add_seconds, "vectors/s")});
  timing.push_back(
      {"write", format_duration(write_seconds), format_bytes(static_cast<double>(file.file_size))});
  fmt::print("{}\n", render_table(timing));
  fmt::print("wrote {} ({}); peak host memory {}\n", o.out_path,
             format_bytes(static_cast<double>(file.file_size)),
             format_bytes(static_cast<double>(peak_host_bytes())));
}

// CLI11 validator: the spec must parse (InvalidArgument), and name what knnx builds
// (NotSupported, e.g. "SQ6").
std::string check_spec(const std::string& spec) {
  try {
    parse_index_spec(spec);
    return {};
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

Command add_build_command(CLI::App& parent) {
  auto o = std::make_shared<BuildOptions>();
  CLI::App* app = parent.add_subcommand(
      "build",
      "Build an index (Flat, IVF<n>,Flat, PQ<M> or IVF<n>,PQ<M>, with transforms such as PCA<d> "
      "in front) from base vectors and save it to a file");
  app->footer(
      "Data: --base reads .fvecs, .bvecs or .npy; --generate draws base vectors from the\n"
      "built-in Gaussian mixture (the same ones `knnx search --generate` uses for a seed).\n"
      "Specs: [transform,]...[IVF<n_lists>,](Flat|PQ<M>) with the transforms PCA<d>, PCAW<d>\n"
      "(whitened), "
      "PCAR<d> (PCA + random rotation), PCAWR<d>, OPQ<m>[_<d>], RR<d> (random rotation) and\n"
      "L2norm, e.g. \"PCA64,IVF1024,Flat\", \"OPQ16_64,Flat\", \"L2norm,Flat\"; PQ<M> stores "
      "M-byte\n"
      "product-quantizer codes (\"PQ16\", \"IVF256,PQ16\", \"OPQ16,IVF256,PQ16\").\n"
      "Transforms and IVF indexes are trained on the base (or a random --train-size sample of\n"
      "it): the transforms first, then k-means on the transformed sample (at most 256 vectors\n"
      "per list); then every base vector is added with ids 0..n-1, in batches. A --base file\n"
      "is never read whole: the sample and each batch are read when needed, so a file larger\n"
      "than memory can be indexed. The file (docs/file_format.md) loads with\n"
      "`knnx search --index FILE`,\n"
      "`knnx info FILE`, knnx::read_index or knnx.read_index, on any device.\n"
      "Progress (rate and time left) goes to stderr unless --quiet: redrawn in place on a\n"
      "terminal, else one line every --progress-every seconds.\n");

  auto* base = app->add_option("--base", o->base_path, "Base vectors (.fvecs, .bvecs, .npy)");
  add_generate_options(app, o->generate, o->mixture,
                       "Generate N base vectors from the built-in mixture")
      ->excludes(base);
  app->add_option("--index,--spec", o->spec,
                  "Index spec: \"Flat\", \"IVF<n_lists>,Flat\", \"PCA64,IVF1024,Flat\", "
                  "\"IVF256,PQ16\", ...")
      ->capture_default_str()
      ->check(CLI::Validator(check_spec, "SPEC", "index spec"));
  app->add_option("--metric", o->metric, "Distance: l2 (squared Euclidean) or ip (inner product)")
      ->capture_default_str()
      ->check(CLI::IsMember({"l2", "ip"}));
  app->add_option("--device", o->device, "Where to train and add: cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check(CLI::Validator(check_device, "DEVICE", "device"));
  app->add_option("--train-size", o->train_size,
                  "IVF and transforms: train on this many base vectors, drawn at random "
                  "(default: all, up to the larger of 2^20 and 256 x n_lists)")
      ->check(CLI::Range(idx_t{1}, idx_t{1} << 40));
  app->add_option("--n-probe", o->n_probe,
                  "IVF: lists a search scans, stored in the file (default 1; capped at n_lists)")
      ->check(CLI::Range(1, 1 << 30));
  app->add_option("--kmeans-iter", o->kmeans_iter, "IVF: k-means iterations (default 10)")
      ->check(CLI::Range(0, 1000000));
  app->add_option("--kmeans-seed", o->kmeans_seed,
                  "IVF: seed of k-means and of the --train-size sample (default 1234)");
  app->add_option("-o,--out", o->out_path, "Index file to write, FILE.knnx (replaced atomically)")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& path) {
            return ends_with(path, ".knnx")
                       ? std::string()
                       : fmt::format("must end in .knnx (a knnx index file), got \"{}\"", path);
          },
          "FILE.knnx", "index file"));
  app->add_option("--threads", o->threads, "CPU threads (sets KNNX_NUM_THREADS; 0: OpenMP default)")
      ->check(CLI::Range(0, 4096));
  add_progress_options(app, o->quiet, o->progress_every);
  app->add_flag("--json", o->json, "Print one JSON object instead of text");

  return {app, [o] { run_build(*o); }};
}

}  // namespace knnx::cli
