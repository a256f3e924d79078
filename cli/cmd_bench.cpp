// knnx bench: a knnx-only recall/throughput sweep on one device — the exact IndexFlat as the
// reference, then IndexIVFFlat over a list of n_lists and an n_probe sweep — printed as a table
// and, with --json / --out, written in the ann_sweep schema of the Python harness
// (bench/harness), so bench/render_benchmarks.py renders both.
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/metric.hpp"
#include "knnx/recall.hpp"
#include "knnx/synthetic.hpp"
#include "knnx/vector_io.hpp"
#include "knnx/version.hpp"

namespace knnx::cli {
namespace {

constexpr idx_t kDefaultQueries = 1000;

struct BenchOptions {
  std::string base_path;
  std::string queries_path;
  idx_t generate = 0;
  MixtureSpec mixture;
  std::optional<idx_t> nq;
  std::vector<int> n_lists;
  std::vector<int> n_probe;
  int k = 10;
  std::string metric = "l2";
  std::string device = "cpu";
  std::string gt_path;
  int repeat = 5;
  std::optional<int> threads;
  bool json = false;
  std::string out_path;
  bool no_ivf = false;
};

// Defaults of the generated data: the mixture of bench/cpu_ivf_bench and the Python harness.
MixtureSpec default_mixture() {
  MixtureSpec m;
  m.dim = 128;
  m.n_clusters = 4096;
  m.center_stddev = 1.0f;
  m.noise_stddev = 1.0f;
  m.seed = 1;
  return m;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::vector<double> loadavg() {
  std::ifstream f("/proc/loadavg");
  std::vector<double> out(3, 0.0);
  if (!(f >> out[0] >> out[1] >> out[2])) return {};
  return out;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown";
}

std::vector<std::string> cpu_flags() {
  static const std::array<const char*, 6> wanted = {"avx", "avx2", "avx512bw",
                                                    "avx512f", "avx512vl", "fma"};
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  std::vector<std::string> out;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    const std::vector<std::string> flags{std::istream_iterator<std::string>(words), {}};
    for (const char* w : wanted) {
      if (std::find(flags.begin(), flags.end(), w) != flags.end()) out.emplace_back(w);
    }
    break;
  }
  return out;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

// Output of a shell command (trailing newline removed), or nullopt when it fails.
std::optional<std::string> shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
  if (pclose(p) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The command line as this process was started (from /proc/self/cmdline).
std::string command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string out;
  std::size_t start = 0;
  while (start < raw.size()) {
    std::size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    std::string arg = raw.substr(start, end - start);
    if (arg.find_first_of(" \t'\"") != std::string::npos || arg.empty()) arg = "'" + arg + "'";
    out += (out.empty() ? "" : " ") + arg;
    start = end + 1;
  }
  return out.empty() ? "knnx bench" : out;
}

struct Point {
  int n_probe = 0;  // 0: no search parameter (Flat)
  double recall = 0.0;
  std::vector<double> times;
  double median = 0.0;
  std::vector<double> load;
};

struct Run {
  std::string algorithm;  // "Flat", "IVF-Flat"
  std::string spec;
  int n_lists = 0;
  double train_s = 0.0;
  double add_s = 0.0;
  double imbalance = 0.0;
  double index_bytes = 0.0;
  std::vector<Point> points;
};

// One untimed warm-up search, then `repeat` timed searches of all queries.
Point time_point(const Index& index, const Matrix<float>& queries, int k, int repeat,
                 Matrix<idx_t>& labels) {
  std::vector<float> distances(static_cast<std::size_t>(queries.rows) * static_cast<std::size_t>(k));
  labels.rows = queries.rows;
  labels.cols = k;
  labels.data.resize(distances.size());
  Point p;
  p.load = loadavg();
  const auto search = [&] {
    index.search(queries.rows, queries.data.data(), k, distances.data(), labels.data.data());
  };
  search();
  for (int r = 0; r < repeat; ++r) p.times.push_back(time_seconds(search));
  p.median = median_of(p.times);
  return p;
}

// The default n_lists: the power of two nearest 4 sqrt(n), at most n.
int default_n_lists(idx_t n) {
  const double target = 4.0 * std::sqrt(static_cast<double>(n));
  int lists = 1;
  while (lists * 2 <= n && std::abs(lists * 2 - target) < std::abs(lists - target)) lists *= 2;
  return lists;
}

nlohmann::ordered_json point_json(const Point& p, idx_t nq) {
  nlohmann::ordered_json j;
  j["params"] = p.n_probe > 0 ? nlohmann::ordered_json{{"n_probe", p.n_probe}}
                              : nlohmann::ordered_json::object();
  j["recall"] = p.recall;
  j["times_s"] = p.times;
  j["median_s"] = p.median;
  j["qps"] = static_cast<double>(nq) / p.median;
  j["loadavg"] = p.load;
  return j;
}

void run_bench(const BenchOptions& o) {
  if (o.generate == 0 && o.base_path.empty()) {
    throw UsageError("give the data: --base FILE --queries FILE, or --generate N");
  }
  const Device device = Device::parse(o.device);
  apply_threads(o.threads);
  const Metric metric = parse_metric(o.metric);
  const std::vector<double> load_start = loadavg();

  // Data.
  Matrix<float> base;
  Matrix<float> queries;
  if (o.generate > 0) {
    const GaussianMixture mixture(o.mixture);
    base = mixture.sample(o.generate, kBaseStream).vectors;
    queries = mixture.sample(o.nq.value_or(kDefaultQueries), kQueryStream).vectors;
  } else {
    base = read_vectors(o.base_path);
    queries = read_vectors(o.queries_path, o.nq.value_or(-1));
    if (base.rows == 0) throw InvalidArgument(fmt::format("base file {} holds no vectors", o.base_path));
    if (queries.rows == 0) {
      throw InvalidArgument(fmt::format("queries file {} holds no vectors", o.queries_path));
    }
    if (base.cols != queries.cols) {
      throw InvalidArgument(fmt::format(
          "base vectors ({}) have dimension {} but queries ({}) have dimension {}", o.base_path,
          base.cols, o.queries_path, queries.cols));
    }
  }
  const idx_t n = base.rows;
  const idx_t nq = queries.rows;
  const int dim = static_cast<int>(base.cols);

  std::vector<int> lists = o.n_lists;
  if (lists.empty() && !o.no_ivf) lists.push_back(default_n_lists(n));
  for (int l : lists) {
    if (l > n) {
      throw InvalidArgument(fmt::format("--n-lists {} is more than the {} base vectors", l, n));
    }
  }

  std::optional<Matrix<idx_t>> given_gt;
  if (!o.gt_path.empty()) {
    given_gt = read_labels(o.gt_path);
    if (given_gt->rows < nq || given_gt->cols < o.k) {
      throw InvalidArgument(fmt::format(
          "ground truth {} is {} x {}; it needs at least {} rows (queries) and k = {} columns",
          o.gt_path, given_gt->rows, given_gt->cols, nq, o.k));
    }
  }

  // Exact reference: IndexFlat on the device; its answer is the ground truth unless --gt.
  std::vector<Run> runs;
  Matrix<idx_t> labels;
  {
    Run flat;
    flat.algorithm = "Flat";
    flat.spec = "Flat";
    IndexFlat index(dim, metric, device);
    flat.add_s = time_seconds([&] { index.add(n, base.data.data()); });
    flat.index_bytes = static_cast<double>(n) * (static_cast<double>(dim) * 4.0 + 8.0);
    Point p = time_point(index, queries, o.k, o.repeat, labels);
    if (!given_gt) given_gt = labels;
    p.recall = recall_at_k(labels, *given_gt, o.k);
    flat.points.push_back(std::move(p));
    runs.push_back(std::move(flat));
  }
  const Matrix<idx_t>& truth = *given_gt;

  for (int l : lists) {
    Run run;
    run.algorithm = "IVF-Flat";
    run.spec = fmt::format("IVF{},Flat", l);
    run.n_lists = l;
    IndexIVFFlat index(dim, l, metric, device);
    run.train_s = time_seconds([&] { index.train(n, base.data.data()); });
    run.add_s = time_seconds([&] { index.add(n, base.data.data()); });
    run.imbalance = index.imbalance_factor();
    run.index_bytes = static_cast<double>(n) * (static_cast<double>(dim) * 4.0 + 8.0) +
                      static_cast<double>(l) * dim * 4.0;
    std::vector<int> probes = o.n_probe;
    if (probes.empty()) {
      for (int p = 1; p <= l; p *= 2) probes.push_back(p);
      if (probes.back() != l) probes.push_back(l);
    }
    for (int p : probes) {
      if (p > l) continue;  // the same as n_probe = n_lists, which the default sweep includes
      index.set_n_probe(p);
      Point pt = time_point(index, queries, o.k, o.repeat, labels);
      pt.n_probe = p;
      pt.recall = recall_at_k(labels, truth, o.k);
      run.points.push_back(std::move(pt));
    }
    runs.push_back(std::move(run));
  }

  const int threads = config().num_threads > 0 ? config().num_threads : omp_get_max_threads();
  const std::string device_name =
      device.is_cpu() ? cpu_model() : cuda_device_name(device.ordinal);
  const std::string system = device.is_cpu() ? "knnx-cpu" : "knnx-gpu";
  const std::string gt_method = !o.gt_path.empty()
                                    ? fmt::format("file {}", o.gt_path)
                                    : fmt::format("exact knnx IndexFlat ({})", device.to_string());

  if (o.json || !o.out_path.empty()) {
    nlohmann::ordered_json j;
    j["benchmark"] = "ann_sweep";
    j["schema"] = 1;
    j["producer"] = "knnx bench";
    const unsigned nproc = std::thread::hardware_concurrency();
    j["host"] = {{"name", host_name()},
                 {"cpu_model", cpu_model()},
                 {"cpu_flags", cpu_flags()},
                 {"nproc", nproc},
                 {"note", fmt::format("{} threads used", threads)}};
    j["devices"] = device.is_cpu() ? nlohmann::ordered_json::array()
                                   : nlohmann::ordered_json::array({{{"name", device_name},
                                                                     {"ordinal", device.ordinal}}});
    // KNNX_COMMIT, when set, names the commit of a tree copied without its own .git state.
    const char* given_commit = std::getenv("KNNX_COMMIT");
    const bool given = given_commit != nullptr && *given_commit != '\0';
    const auto commit = given ? std::optional<std::string>(given_commit)
                              : shell("git rev-parse HEAD 2>/dev/null");
    const auto dirty = given ? std::nullopt
                             : shell("git status --porcelain -- src include python bench cli "
                                     "CMakeLists.txt cmake 2>/dev/null");
    j["commit"] = commit ? nlohmann::ordered_json(*commit) : nlohmann::ordered_json(nullptr);
    j["worktree_dirty"] = dirty ? nlohmann::ordered_json(!dirty->empty())
                                : nlohmann::ordered_json(nullptr);
    j["command"] = command_line();
    j["versions"] = {{"knnx", kVersionString}};
    nlohmann::ordered_json env = nlohmann::ordered_json::object();
    for (const char* var : {"KNNX_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                            "OMP_WAIT_POLICY", "CUDA_VISIBLE_DEVICES"}) {
      if (const char* v = std::getenv(var)) env[var] = v;
    }
    j["environment"] = env;
    j["threads"] = threads;
    nlohmann::ordered_json d;
    if (o.generate > 0) {
      d["name"] = fmt::format("mixture-{}k-d{}", n / 1000, dim);
      d["kind"] = "gaussian_mixture";
      d["source"] = "knnx::GaussianMixture";
      d["clusters"] = o.mixture.n_clusters;
      d["center_stddev"] = json_number(o.mixture.center_stddev);
      d["noise_stddev"] = json_number(o.mixture.noise_stddev);
      d["seed"] = o.mixture.seed;
    } else {
      d["name"] = o.base_path;
      d["kind"] = "files";
      d["base"] = o.base_path;
      d["queries"] = o.queries_path;
    }
    d["n"] = n;
    d["d"] = dim;
    d["nq"] = nq;
    d["metric"] = to_string(metric);
    j["dataset"] = d;
    j["k"] = o.k;
    j["device"] = device.to_string();
    j["ground_truth"] = {{"method", gt_method}};
    j["repeat_rule"] = {{"warmup", 1}, {"repeats", o.repeat}, {"min_repeats", o.repeat}};
    j["loadavg_start"] = load_start;
    j["loadavg_end"] = loadavg();
    nlohmann::ordered_json rj = nlohmann::ordered_json::array();
    for (const Run& r : runs) {
      nlohmann::ordered_json x;
      x["system"] = system;
      x["algorithm"] = r.algorithm;
      x["index"] = r.spec;
      x["build_params"] = r.n_lists > 0 ? nlohmann::ordered_json{{"n_lists", r.n_lists}}
                                        : nlohmann::ordered_json::object();
      nlohmann::ordered_json b = {{"train_s", r.train_s}, {"add_s", r.add_s},
                                  {"total_s", r.train_s + r.add_s}};
      if (r.n_lists > 0) b["imbalance_factor"] = r.imbalance;
      x["build"] = b;
      x["index_bytes"] = r.index_bytes;
      x["index_bytes_method"] = r.n_lists > 0
                                    ? "payload: list vectors (float32) + ids (int64) + centroids"
                                    : "payload: vectors (float32) + ids (int64)";
      x["sweep_param"] = r.n_lists > 0 ? nlohmann::ordered_json("n_probe") : nlohmann::ordered_json(nullptr);
      nlohmann::ordered_json pts = nlohmann::ordered_json::array();
      for (const Point& p : r.points) pts.push_back(point_json(p, nq));
      x["points"] = pts;
      rj.push_back(x);
    }
    j["runs"] = rj;
    j["skipped"] = nlohmann::ordered_json::array();
    const std::string text = j.dump(1);
    if (!o.out_path.empty()) {
      const std::string tmp = o.out_path + ".tmp";
      {
        std::ofstream f(tmp);
        f << text << '\n';
        if (!f) throw IoError(fmt::format("cannot write {}", tmp));
      }
      if (std::rename(tmp.c_str(), o.out_path.c_str()) != 0) {
        throw IoError(fmt::format("cannot rename {} to {}", tmp, o.out_path));
      }
    }
    if (o.json) {
      fmt::print("{}\n", text);
      return;
    }
  }

  fmt::print("knnx {}  bench  on {} ({})  {} threads\n", kVersionString, device.to_string(),
             device_name, threads);
  fmt::print("data: {}  N = {}, d = {}, nq = {}, k = {}, {}; ground truth: {}\n\n",
             o.generate > 0 ? fmt::format("Gaussian mixture ({} clusters, seed {})",
                                          o.mixture.n_clusters, o.mixture.seed)
                            : o.base_path,
             n, dim, nq, o.k, to_string(metric), gt_method);
  const double flat_median = runs.front().points.front().median;
  std::vector<std::vector<std::string>> rows = {
      {"index", "build", "n_probe", fmt::format("recall@{}", o.k), "search", "queries/s",
       "x flat"}};
  for (const Run& r : runs) {
    for (std::size_t i = 0; i < r.points.size(); ++i) {
      const Point& p = r.points[i];
      rows.push_back({i == 0 ? r.spec : "", i == 0 ? format_duration(r.train_s + r.add_s) : "",
                      p.n_probe > 0 ? fmt::format("{}", p.n_probe) : "-",
                      fmt::format("{:.4f}", p.recall), format_duration(p.median),
                      format_rate(static_cast<double>(nq) / p.median, ""),
                      fmt::format("{:.1f}x", flat_median / p.median)});
    }
  }
  fmt::print("{}", render_table(rows));
  fmt::print("\nsearch: median of {} timed searches of all {} queries after one warm-up\n",
             o.repeat, nq);
  if (!o.out_path.empty()) fmt::print("wrote {}\n", o.out_path);
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
  auto o = std::make_shared<BenchOptions>();
  o->mixture = default_mixture();
  CLI::App* app = parent.add_subcommand(
      "bench",
      "Recall/throughput sweep of knnx on one device: exact IndexFlat, then IndexIVFFlat over "
      "an n_probe sweep; a table, or JSON for bench/render_benchmarks.py");
  app->footer(
      "Data: --generate N draws base vectors and --nq queries from the built-in Gaussian\n"
      "mixture (defaults as bench/cpu_ivf_bench: 4096 clusters, noise 1, seed 1); --base and\n"
      "--queries read .fvecs, .bvecs or .npy files.\n"
      "Each point: one warm-up search, then --repeat timed searches of all queries; the\n"
      "median is reported. Recall@k is against --gt, or against the exact IndexFlat search of\n"
      "the same run on the same device. Build time is train + add.\n"
      "JSON (--json, --out): the ann_sweep schema of bench/harness (host, commit, command,\n"
      "dataset, every timed search, loadavg), which bench/render_benchmarks.py renders.\n"
      "Exit codes: 0 success, 2 usage error, 3 bad input (files, sizes, --n-lists > N),\n"
      "4 other knnx errors (e.g. --device cuda without a CUDA backend), 1 anything else.\n");

  auto* base = app->add_option("--base", o->base_path, "Base vectors (.fvecs, .bvecs, .npy)");
  auto* queries =
      app->add_option("--queries", o->queries_path, "Query vectors (.fvecs, .bvecs, .npy)");
  base->needs(queries);
  queries->needs(base);
  auto* generate = add_generate_options(app, o->generate, o->mixture,
                                        "Generate N base vectors and --nq queries from the "
                                        "built-in mixture");
  generate->excludes(base)->excludes(queries);
  app->add_option("--nq", o->nq,
                  fmt::format("Queries: generated (default {}) or the first NQ of --queries "
                              "(default all)",
                              kDefaultQueries))
      ->check(CLI::Range(idx_t{1}, idx_t{1} << 40));
  auto* lists =
      app->add_option("--n-lists", o->n_lists,
                      "IVF list counts, comma-separated (default: the power of two nearest "
                      "4 sqrt(N))")
          ->delimiter(',')
          ->check(CLI::Range(1, 1 << 24));
  app->add_option("--n-probe", o->n_probe,
                  "n_probe values, comma-separated (default 1, 2, 4, ... up to n_lists); values "
                  "above an n_lists are skipped for it")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 24));
  app->add_flag("--no-ivf", o->no_ivf, "Only the exact IndexFlat")->excludes(lists);
  app->add_option("-k,--k", o->k, "Neighbours per query")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxK));
  app->add_option("--metric", o->metric, "Distance: l2 (squared Euclidean) or ip (inner product)")
      ->capture_default_str()
      ->check(CLI::IsMember({"l2", "ip"}));
  app->add_option("--device", o->device, "cpu, cuda or cuda:N: where every index is built and searched")
      ->capture_default_str()
      ->check(CLI::Validator(check_device, "DEVICE", "device"));
  app->add_option("--gt", o->gt_path,
                  "Ground-truth neighbour ids (.ivecs or .npy) instead of the exact search");
  app->add_option("--repeat", o->repeat, "Timed searches per point (the median is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app->add_option("--threads", o->threads, "CPU threads (sets KNNX_NUM_THREADS; 0: OpenMP default)")
      ->check(CLI::Range(0, 4096));
  app->add_flag("--json", o->json, "Print the results as JSON instead of a table");
  app->add_option("--out", o->out_path, "Also write the JSON results to this file");

  return {app, [o] { run_bench(*o); }};
}

}  // namespace knnx::cli
