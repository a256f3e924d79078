// knnx search: k-NN search with timings, optional recall@k against ground truth, and optional
// result files. The index is either built here (an exact IndexFlat over base vectors from a file
// or from the built-in Gaussian mixture) or loaded from a file written by `knnx build` /
// write_index; queries come from a file or from the mixture. The stages are in search_*.cpp.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "knnx/recall.hpp"
#include "search.hpp"

namespace knnx::cli {

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

namespace {

void run_search(const SearchOptions& o) {
  check_search_options(o);
  const Device device = Device::parse(o.device);
  apply_threads(o.threads);

  const SearchData data = load_search_data(o);
  const Searched searched = open_searched_index(o, device, data);
  GroundTruth truth = read_given_truth(o, data.queries.rows);

  Results results = make_results(data.queries.rows, o.k);
  std::vector<double> runs;
  for (int r = 0; r < o.repeat; ++r) {
    runs.push_back(time_seconds([&] { search_into(*searched.index, data.queries, results); }));
  }

  if (wants_computed_truth(o)) truth = compute_ground_truth(o, data, searched);
  SearchReport report{o, device, data, searched, results, truth, runs, median(runs), {}, {}};
  if (truth.labels) report.recall = recall_at_k(results.labels, *truth.labels, o.k);
  if (!o.out_path.empty()) {
    report.out = result_files(o.out_path);
    write_results(*report.out, results);
  }
  if (o.json) {
    print_search_json(report);
  } else {
    print_search_text(report);
  }
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

  app->add_flag("--mmap", o->mmap,
                "Map the --index file's float32 rows (a RefineFlat's exact vectors, a Flat's "
                "vectors on the CPU) read-only instead of reading them into memory")
      ->needs(index);
  app->add_option("--refine-storage", o->refine_storage,
                  "RefineFlat from --index: keep the exact vectors on the host or on the "
                  "--device GPU (device: re-ranked there)")
      ->check(CLI::IsMember({"host", "device"}))
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
      ->check(CLI::Validator(check_result_path, "FILE", "output path"));
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
