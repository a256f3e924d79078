// cli/search.hpp — the stages of `knnx search` and what passes between them. run_search
// (cmd_search.cpp) calls them in order: read the vectors, open the index (built here or loaded),
// read or compute the ground truth, time the search, write the result files, print the report.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/synthetic.hpp"
#include "knnx/transform.hpp"
#include "knnx/types.hpp"

namespace knnx::cli {

inline constexpr idx_t kDefaultGeneratedQueries = 1000;

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
  bool mmap = false;                          // map the --index file's host rows
  std::optional<std::string> refine_storage;  // move a RefineFlat's exact vectors

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

struct SearchData {
  Matrix<float> base;  // empty when the index comes from a file and no base is generated
  Matrix<float> queries;
  double seconds = 0.0;  // reading or generating
};

// The index searched: built here from the base, or loaded from --index.
struct Searched {
  std::unique_ptr<Index> index;
  std::string name;  // "IndexFlat", "IndexIVFFlat" (behind the transforms, if any)
  std::vector<const VectorTransform*> transforms;  // of a loaded IndexPreTransform chain
  std::optional<double> add_seconds;
  std::optional<double> load_seconds;
  IndexIVFFlat* ivf = nullptr;  // when it is one
  IndexIVFScalarQuantizer* ivf_sq = nullptr;  // when it is one
  IndexIVFPQ* ivf_pq = nullptr;               // when it is one
};

// k results per query, row-major (nq x k).
struct Results {
  idx_t nq = 0;
  int k = 0;
  std::vector<float> distances;
  Matrix<idx_t> labels;
};
Results make_results(idx_t nq, int k);
void search_into(const Index& index, const Matrix<float>& queries, Results& r);

struct GroundTruth {
  std::optional<Matrix<idx_t>> labels;  // none: recall is not reported
  std::string source;                   // "file X", "exact CPU IndexFlat ..."
  bool computed = false;                // by compute_ground_truth (and timed)
  double seconds = 0.0;
};

// Where --out writes: labels at the given path, distances in a sibling file.
struct ResultFiles {
  std::string labels;
  std::string distances;
};

// Everything the report prints.
struct SearchReport {
  const SearchOptions& options;
  Device device;
  const SearchData& data;
  const Searched& searched;
  const Results& results;
  const GroundTruth& truth;
  std::vector<double> search_runs;  // seconds of each --repeat
  double search_median = 0.0;
  std::optional<double> recall;
  std::optional<ResultFiles> out;
};

// --- search_input.cpp: reading what is searched -------------------------------------------
// UsageError when the options name no data to search.
void check_search_options(const SearchOptions& o);
// The base (unless the index comes from a file) and the queries, from files or generated.
SearchData load_search_data(const SearchOptions& o);
// An exact IndexFlat over data.base, or the --index file with the options' n_probe/precision.
Searched open_searched_index(const SearchOptions& o, Device device, const SearchData& data);
// The --gt file, checked against nq and k before anything is searched (so a bad file fails
// fast); no labels without --gt.
GroundTruth read_given_truth(const SearchOptions& o, idx_t nq);

// --- search_truth.cpp: exact ground truth -----------------------------------------------------
// Whether the options ask for computed ground truth (generated data or --compute-gt, no --gt).
bool wants_computed_truth(const SearchOptions& o);
// Exact neighbours with the CPU IndexFlat: over the base of data when it has one (ids 0..n-1),
// else over the vectors the loaded index holds, with their ids.
GroundTruth compute_ground_truth(const SearchOptions& o, const SearchData& data,
                                 const Searched& searched);

// --- search_output.cpp: result files and the report ------------------------------------------
// FILE.npy -> FILE.distances.npy; FILE.ivecs -> FILE.distances.fvecs.
ResultFiles result_files(const std::string& out);
// CLI11 validator of --out: "" when the path ends in .npy or .ivecs, else why not.
std::string check_result_path(const std::string& path);
void write_results(const ResultFiles& paths, const Results& r);
void print_search_json(const SearchReport& report);
void print_search_text(const SearchReport& report);

}  // namespace knnx::cli
