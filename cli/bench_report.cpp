// The report of `knnx bench`: the ann_sweep JSON of bench/harness (which
// bench/render_benchmarks.py renders) and the plain-text table.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench.hpp"
#include "common.hpp"
#include "knnx/error.hpp"
#include "knnx/version.hpp"
#include "provenance.hpp"

namespace knnx::cli {
namespace {

using json = nlohmann::ordered_json;

std::string device_name(Device device) {
  return device.is_cpu() ? cpu_model() : cuda_device_name(device.ordinal);
}

json point_json(const Point& p, idx_t nq) {
  json j;
  j["params"] = p.n_probe > 0 ? json{{"n_probe", p.n_probe}} : json::object();
  j["recall"] = p.recall;
  j["times_s"] = p.times;
  j["median_s"] = p.median;
  j["qps"] = static_cast<double>(nq) / p.median;
  j["loadavg"] = p.load;
  return j;
}

json run_json(const Run& r, Device device, idx_t nq) {
  json x;
  x["system"] = device.is_cpu() ? "knnx-cpu" : "knnx-gpu";
  x["algorithm"] = r.algorithm;
  x["index"] = r.spec;
  x["build_params"] = r.n_lists > 0 ? json{{"n_lists", r.n_lists}} : json::object();
  json b = {{"train_s", r.train_s}, {"add_s", r.add_s}, {"total_s", r.train_s + r.add_s}};
  if (r.n_lists > 0) b["imbalance_factor"] = r.imbalance;
  x["build"] = b;
  x["index_bytes"] = r.index_bytes;
  x["index_bytes_method"] = r.n_lists > 0
                                ? "payload: list vectors (float32) + ids (int64) + centroids"
                                : "payload: vectors (float32) + ids (int64)";
  x["sweep_param"] = r.n_lists > 0 ? json("n_probe") : json(nullptr);
  json pts = json::array();
  for (const Point& p : r.points) pts.push_back(point_json(p, nq));
  x["points"] = pts;
  return x;
}

json host_json() {
  return {{"name", host_name()},
          {"cpu_model", cpu_model()},
          {"cpu_flags", cpu_flags()},
          {"nproc", std::thread::hardware_concurrency()},
          {"note", fmt::format("{} threads used", cpu_threads())}};
}

json environment_json() {
  json env = json::object();
  for (const char* var : {"KNNX_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                          "OMP_WAIT_POLICY", "CUDA_VISIBLE_DEVICES"}) {
    if (const char* v = std::getenv(var)) env[var] = v;
  }
  return env;
}

json dataset_json(const BenchOptions& o, Metric metric, const BenchData& data) {
  const idx_t n = data.base.rows;
  json d;
  if (o.generate > 0) {
    d["name"] = fmt::format("mixture-{}k-d{}", n / 1000, data.base.cols);
    d["kind"] = "gaussian_mixture";
    d["source"] = "knnx::GaussianMixture";
    add_mixture_fields(d, o.mixture);
  } else {
    d["name"] = o.base_path;
    d["kind"] = "files";
    d["base"] = o.base_path;
    d["queries"] = o.queries_path;
  }
  d["n"] = n;
  d["d"] = data.base.cols;
  d["nq"] = data.queries.rows;
  d["metric"] = to_string(metric);
  return d;
}

}  // namespace

std::string sweep_json(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
                       const Sweep& sweep) {
  json j;
  j["benchmark"] = "ann_sweep";
  j["schema"] = 1;
  j["producer"] = "knnx bench";
  j["host"] = host_json();
  j["devices"] = device.is_cpu()
                     ? json::array()
                     : json::array({{{"name", device_name(device)}, {"ordinal", device.ordinal}}});
  const SourceCommit source = source_commit();
  j["commit"] = source.commit ? json(*source.commit) : json(nullptr);
  j["worktree_dirty"] = source.dirty ? json(*source.dirty) : json(nullptr);
  j["command"] = command_line();
  j["versions"] = {{"knnx", kVersionString}};
  j["environment"] = environment_json();
  j["threads"] = cpu_threads();
  j["dataset"] = dataset_json(o, metric, data);
  j["k"] = o.k;
  j["device"] = device.to_string();
  j["ground_truth"] = {{"method", sweep.gt_method}};
  j["repeat_rule"] = {{"warmup", 1}, {"repeats", o.repeat}, {"min_repeats", o.repeat}};
  j["loadavg_start"] = sweep.load_start;
  j["loadavg_end"] = loadavg();
  json runs = json::array();
  for (const Run& r : sweep.runs) runs.push_back(run_json(r, device, data.queries.rows));
  j["runs"] = runs;
  j["skipped"] = json::array();
  return j.dump(1);
}

void write_sweep_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << text << '\n';
    f.close();  // the last bytes reach the file system here: check after closing
    if (!f) {
      std::remove(tmp.c_str());
      throw IoError(fmt::format("cannot write {}", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw IoError(fmt::format("cannot rename {} to {}", tmp, path));
  }
}

void print_sweep_table(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
                       const Sweep& sweep) {
  const idx_t nq = data.queries.rows;
  fmt::print("knnx {}  bench  on {} ({})  {} threads\n", kVersionString, device.to_string(),
             device_name(device), cpu_threads());
  fmt::print("data: {}  N = {}, d = {}, nq = {}, k = {}, {}; ground truth: {}\n\n",
             o.generate > 0 ? fmt::format("Gaussian mixture ({} clusters, seed {})",
                                          o.mixture.n_clusters, o.mixture.seed)
                            : o.base_path,
             data.base.rows, data.base.cols, nq, o.k, to_string(metric), sweep.gt_method);
  const double flat_median = sweep.runs.front().points.front().median;
  std::vector<std::vector<std::string>> rows = {{"index", "build", "n_probe",
                                                 fmt::format("recall@{}", o.k), "search",
                                                 "queries/s", "x flat"}};
  for (const Run& r : sweep.runs) {
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

}  // namespace knnx::cli
