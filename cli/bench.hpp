// cli/bench.hpp — the stages of `knnx bench` and what passes between them. run_bench
// (cmd_bench.cpp) reads or generates the data, runs the sweep (bench_sweep.cpp: the exact
// IndexFlat, then IndexIVFFlat per n_lists over its n_probe values) and reports it
// (bench_report.cpp: a table, or the ann_sweep JSON of bench/harness).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/metric.hpp"
#include "knnx/synthetic.hpp"
#include "knnx/types.hpp"
#include "progress.hpp"

namespace knnx::cli {

inline constexpr idx_t kDefaultBenchQueries = 1000;

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
  bool quiet = false;
  double progress_every = 10.0;  // seconds between progress lines in a log
};

// One searched setting: one untimed warm-up search, then `repeat` timed searches of all queries.
struct Point {
  int n_probe = 0;  // 0: no search parameter (Flat)
  double recall = 0.0;
  std::vector<double> times;
  double median = 0.0;
  std::vector<double> load;  // load averages when the point started
};

// One built index and its points.
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

struct BenchData {
  Matrix<float> base;
  Matrix<float> queries;
};

struct Sweep {
  std::vector<Run> runs;  // the Flat reference first
  std::vector<double> load_start;
  std::string gt_method;
};

// --- bench_sweep.cpp ----------------------------------------------------------------------------
// The n_lists values of the sweep: --n-lists, or one default (none with --no-ivf); each at most
// the number of base vectors (InvalidArgument otherwise).
std::vector<int> sweep_lists(const BenchOptions& o, idx_t n);
// The n_probe values swept for an index of n_lists lists.
std::vector<int> sweep_probes(const BenchOptions& o, int n_lists);
// Builds and times every index of the sweep; progress (when wanted) on stderr.
Sweep run_sweep(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
                const std::vector<int>& lists, ProgressStyle progress);

// --- bench_report.cpp ---------------------------------------------------------------------------
// The ann_sweep JSON document (schema 1) of the sweep.
std::string sweep_json(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
                       const Sweep& sweep);
// Writes text to path through a temporary file renamed into place.
void write_sweep_file(const std::string& path, const std::string& text);
void print_sweep_table(const BenchOptions& o, Device device, Metric metric, const BenchData& data,
                       const Sweep& sweep);

}  // namespace knnx::cli
