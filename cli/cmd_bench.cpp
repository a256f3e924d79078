// knnx bench: a knnx-only recall/throughput sweep on one device — the exact IndexFlat as the
// reference, then IndexIVFFlat over a list of n_lists and an n_probe sweep — printed as a table
// and, with --json / --out, written in the ann_sweep schema of the Python harness
// (bench/harness), so bench/render_benchmarks.py renders both. The stages are in bench_*.cpp.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "bench.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "progress.hpp"

namespace knnx::cli {
namespace {

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

BenchData load_bench_data(const BenchOptions& o) {
  VectorSets sets = o.generate > 0 ? generate_base_and_queries(o.mixture, o.generate,
                                                               o.nq.value_or(kDefaultBenchQueries))
                                   : read_base_and_queries(o.base_path, o.queries_path, o.nq);
  return {std::move(sets.base), std::move(sets.queries)};
}

void run_bench(const BenchOptions& o) {
  if (o.generate == 0 && o.base_path.empty()) {
    throw UsageError("give the data: --base FILE --queries FILE, or --generate N");
  }
  const Device device = Device::parse(o.device);
  apply_threads(o.threads);
  const Metric metric = parse_metric(o.metric);

  const BenchData data = load_bench_data(o);
  const std::vector<int> lists = sweep_lists(o, data.base.rows);
  const Sweep sweep =
      run_sweep(o, device, metric, data, lists, progress_style(o.quiet, o.progress_every));

  if (o.json || !o.out_path.empty()) {
    const std::string text = sweep_json(o, device, metric, data, sweep);
    if (!o.out_path.empty()) write_sweep_file(o.out_path, text);
    if (o.json) {
      fmt::print("{}\n", text);
      return;
    }
  }
  print_sweep_table(o, device, metric, data, sweep);
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
                              kDefaultBenchQueries))
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
  app->add_option("--device", o->device,
                  "cpu, cuda or cuda:N: where every index is built and searched")
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
  app->add_option("--out", o->out_path, "Also write the JSON results to FILE.json")
      ->check(CLI::Validator(
          [](const std::string& path) {
            return ends_with(path, ".json") ? std::string()
                                            : fmt::format("must end in .json, got \"{}\"", path);
          },
          "FILE.json", "result file"));
  add_progress_options(app, o->quiet, o->progress_every);

  return {app, [o] { run_bench(*o); }};
}

}  // namespace knnx::cli
