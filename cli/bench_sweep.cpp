// The sweep of `knnx bench`: the exact IndexFlat as the reference (its answer is the ground truth
// unless --gt), then IndexIVFFlat for each n_lists over its n_probe values.
#include <fmt/format.h>

#include <cmath>

#include "bench.hpp"
#include "common.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/recall.hpp"
#include "knnx/vector_io.hpp"
#include "progress.hpp"
#include "provenance.hpp"

namespace knnx::cli {
namespace {

// The default n_lists: the power of two nearest 4 sqrt(n), at most n.
int default_n_lists(idx_t n) {
  const double target = 4.0 * std::sqrt(static_cast<double>(n));
  int lists = 1;
  while (lists * 2 <= n && std::abs(lists * 2 - target) < std::abs(lists - target)) lists *= 2;
  return lists;
}

// Bytes of the payload: vectors (float32) and ids (int64), plus the centroids of an IVF index.
double payload_bytes(idx_t n, int dim, int n_lists) {
  return static_cast<double>(n) * (static_cast<double>(dim) * 4.0 + 8.0) +
         static_cast<double>(n_lists) * dim * 4.0;
}

Point time_point(const Index& index, const Matrix<float>& queries, int k, int repeat,
                 Matrix<idx_t>& labels) {
  std::vector<float> distances(static_cast<std::size_t>(queries.rows) *
                               static_cast<std::size_t>(k));
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
  p.median = median(p.times);
  return p;
}

std::optional<Matrix<idx_t>> read_bench_truth(const BenchOptions& o, idx_t nq) {
  if (o.gt_path.empty()) return std::nullopt;
  Matrix<idx_t> gt = read_labels(o.gt_path);
  if (gt.rows < nq || gt.cols < o.k) {
    throw InvalidArgument(fmt::format(
        "ground truth {} is {} x {}; it needs at least {} rows (queries) and k = {} columns",
        o.gt_path, gt.rows, gt.cols, nq, o.k));
  }
  return gt;
}

// The exact reference; fills truth with its answer when no --gt was given.
Run flat_run(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
             std::optional<Matrix<idx_t>>& truth) {
  const idx_t n = data.base.rows;
  const int dim = static_cast<int>(data.base.cols);
  Run run;
  run.algorithm = "Flat";
  run.spec = "Flat";
  IndexFlat index(dim, metric, device);
  run.add_s = time_seconds([&] { index.add(n, data.base.data.data()); });
  run.index_bytes = payload_bytes(n, dim, 0);
  Matrix<idx_t> labels;
  Point p = time_point(index, data.queries, o.k, o.repeat, labels);
  if (!truth) truth = labels;
  p.recall = recall_at_k(labels, *truth, o.k);
  run.points.push_back(std::move(p));
  return run;
}

Run ivf_run(const BenchOptions& o, Device device, Metric metric, const BenchData& data, int n_lists,
            const Matrix<idx_t>& truth, Progress& progress, int& points_done) {
  const idx_t n = data.base.rows;
  const int dim = static_cast<int>(data.base.cols);
  Run run;
  run.algorithm = "IVF-Flat";
  run.spec = fmt::format("IVF{},Flat", n_lists);
  run.n_lists = n_lists;
  IndexIVFFlat index(dim, n_lists, metric, device);
  progress.update(points_done, fmt::format("training {}", run.spec));
  run.train_s = time_seconds([&] { index.train(n, data.base.data.data()); });
  progress.update(points_done, fmt::format("adding to {}", run.spec));
  run.add_s = time_seconds([&] { index.add(n, data.base.data.data()); });
  run.imbalance = index.imbalance_factor();
  run.index_bytes = payload_bytes(n, dim, n_lists);
  Matrix<idx_t> labels;
  for (int p : sweep_probes(o, n_lists)) {
    index.set_n_probe(p);
    Point pt = time_point(index, data.queries, o.k, o.repeat, labels);
    pt.n_probe = p;
    pt.recall = recall_at_k(labels, truth, o.k);
    run.points.push_back(std::move(pt));
    progress.update(++points_done, fmt::format("{} n_probe {}", run.spec, p));
  }
  return run;
}

}  // namespace

std::vector<int> sweep_lists(const BenchOptions& o, idx_t n) {
  std::vector<int> lists = o.n_lists;
  if (lists.empty() && !o.no_ivf) lists.push_back(default_n_lists(n));
  for (int l : lists) {
    if (l > n) {
      throw InvalidArgument(fmt::format("--n-lists {} is more than the {} base vectors", l, n));
    }
  }
  return lists;
}

std::vector<int> sweep_probes(const BenchOptions& o, int n_lists) {
  std::vector<int> probes;
  if (o.n_probe.empty()) {
    for (int p = 1; p <= n_lists; p *= 2) probes.push_back(p);
    if (probes.back() != n_lists) probes.push_back(n_lists);
    return probes;
  }
  // Values above n_lists are the same as n_probe = n_lists, which the default sweep includes.
  for (int p : o.n_probe) {
    if (p <= n_lists) probes.push_back(p);
  }
  return probes;
}

Sweep run_sweep(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
                const std::vector<int>& lists, ProgressStyle progress) {
  Sweep sweep;
  sweep.load_start = loadavg();
  sweep.gt_method = !o.gt_path.empty()
                        ? fmt::format("file {}", o.gt_path)
                        : fmt::format("exact knnx IndexFlat ({})", device.to_string());
  std::optional<Matrix<idx_t>> truth = read_bench_truth(o, data.queries.rows);

  int total_points = 1;
  for (int l : lists) total_points += static_cast<int>(sweep_probes(o, l).size());
  Progress bar("bench", total_points, "points", progress);
  int points_done = 0;
  bar.update(points_done, "Flat");
  sweep.runs.push_back(flat_run(o, device, metric, data, truth));
  bar.update(++points_done, "Flat");
  for (int l : lists) {
    sweep.runs.push_back(ivf_run(o, device, metric, data, l, *truth, bar, points_done));
  }
  bar.finish();
  return sweep;
}

}  // namespace knnx::cli
