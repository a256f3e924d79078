// knnx info: version, compiled backends, CUDA devices, OpenMP threads and every config knob.
// `--knobs-markdown` prints docs/knobs.md, which a test compares with the file in the tree.
// `knnx info FILE` describes an index file instead: header, sections, list sizes (IVF) and the
// memory its vectors, ids and centroids take, and the transforms in front of the index, after
// verifying every checksum.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "index_chain.hpp"
#include "knnx/build_info.hpp"
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/index_io.hpp"
#include "knnx/version.hpp"

namespace knnx::cli {
namespace {

struct InfoOptions {
  std::string file;
  bool json = false;
  bool knobs_markdown = false;
};

// '|' would end a markdown table cell early.
std::string escape_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string knobs_markdown() {
  std::string out =
      "# Configuration knobs\n"
      "\n"
      "knnx reads its tuning knobs from `KNNX_*` environment variables once, at first use (the\n"
      "first call that needs the configuration), into one process-wide configuration. Changing\n"
      "the environment afterwards has no effect until `knnx::reload_config_from_env()` is called;\n"
      "`knnx::set_config()` replaces the values from code at any time and checks them against the\n"
      "same ranges. An out-of-range or unparsable value raises `knnx::InvalidArgument` naming the\n"
      "variable. Hot code receives these values as parameters and never reads the environment.\n"
      "\n"
      "The knobs are process defaults. Those that change the results or the memory of a search\n"
      "can also be set for one call, through the `knnx::SearchParams` field named in the last\n"
      "column (`knnx/search_params.hpp`); a field left unset takes the knob's value, and the\n"
      "field accepts the knob's range. Concurrent searches with different fields do not\n"
      "interfere. The other knobs (threads, debugging, linear algebra) stay process-wide; a\n"
      "transform or linear-algebra call takes them once, as it starts, and hands them to the\n"
      "backend, so a change made meanwhile applies from the next call.\n"
      "\n"
      "`knnx info` prints the values in force. This page is the output of\n"
      "`knnx info --knobs-markdown`; a test fails when it differs from what the build prints.\n"
      "\n"
      "| name | default | range | description | per search |\n"
      "|---|---|---|---|---|\n";
  for (const KnobInfo& k : describe_knobs()) {
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.env_name,
                       escape_cell(k.default_value), escape_cell(k.range),
                       escape_cell(k.description),
                       k.search_param.empty() ? "-" : fmt::format("`{}`", k.search_param));
  }
  out +=
      "\n"
      "## GPU workspace\n"
      "\n"
      "Every GPU search keeps its scratch memory (staged queries, score tiles, partial results)\n"
      "within one bound: `SearchParams.workspace_bytes` when set, else `KNNX_GPU_WORKSPACE_MB`\n"
      "when not 0, else a quarter of the device memory free as the search starts (free per\n"
      "`cudaMemGetInfo`, plus what knnx's memory pool keeps unused; measured at most every\n"
      "50 ms), within 16 MiB .. 16 GiB. Queries are searched in batches that fit the bound, so\n"
      "any number of queries runs. Results (nq x k distances and labels) do not count; when\n"
      "the caller's arrays are host memory, their device copy is made whole if it fits the\n"
      "bound, else one batch at a time, each copied back as it completes. An explicit bound\n"
      "too small for even one query (e.g. a flat search of large k, whose row of scores over\n"
      "every stored vector is needed whole) raises `knnx::InvalidArgument` naming the bytes\n"
      "one query needs; under the default bound such a query runs alone. Transforms stream\n"
      "their rows within the same bound.\n";
  return out;
}

struct DeviceEntry {
  int ordinal;
  std::string name;
};

std::vector<DeviceEntry> cuda_devices() {
  std::vector<DeviceEntry> out;
  const int count = cuda_device_count();
  for (int i = 0; i < count; ++i) out.push_back({i, cuda_device_name(i)});
  return out;
}

void print_json(const std::vector<DeviceEntry>& devices, const std::vector<KnobInfo>& knobs) {
  nlohmann::ordered_json j;
  j["version"] = kVersionString;
  j["backends"] = {{"cpu", true}, {"cuda", cuda_backend_compiled()}};
  nlohmann::ordered_json devs = nlohmann::ordered_json::array();
  for (const DeviceEntry& d : devices) devs.push_back({{"ordinal", d.ordinal}, {"name", d.name}});
  j["cuda_devices"] = devs;
  j["openmp"] = {{"max_threads", omp_get_max_threads()}, {"num_procs", omp_get_num_procs()}};
  const BuildInfo build = build_info();
  j["blas"] = build.blas;
  j["cpu_threads"] = build.cpu_threads;
  nlohmann::ordered_json ks = nlohmann::ordered_json::array();
  for (const KnobInfo& k : knobs) {
    ks.push_back({{"name", k.env_name},
                  {"value", k.value},
                  {"default", k.default_value},
                  {"range", k.range},
                  {"description", k.description}});
  }
  j["knobs"] = ks;
  fmt::print("{}\n", j.dump(2));
}

void print_text(const std::vector<DeviceEntry>& devices, const std::vector<KnobInfo>& knobs) {
  fmt::print("knnx {}\n\n", kVersionString);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"backends", cuda_backend_compiled() ? "cpu, cuda" : "cpu (built without CUDA)"});
  if (!cuda_backend_compiled()) {
    rows.push_back(
        {"cuda devices", "- (built without CUDA: rebuild where nvcc is found to use a GPU)"});
  } else if (devices.empty()) {
    rows.push_back({"cuda devices", "none found"});
  } else {
    for (const DeviceEntry& d : devices) {
      rows.push_back(
          {d.ordinal == 0 ? "cuda devices" : "", fmt::format("cuda:{}  {}", d.ordinal, d.name)});
    }
  }
  rows.push_back({"openmp threads", fmt::format("{} (of {} processors)", omp_get_max_threads(),
                                                omp_get_num_procs())});
  const BuildInfo build = build_info();
  rows.push_back({"search threads", fmt::format("{}", build.cpu_threads)});
  rows.push_back({"blas", build.blas});
  fmt::print("{}\n", render_table(rows));

  std::vector<std::vector<std::string>> knob_rows = {{"knob", "value", "default", "range"}};
  for (const KnobInfo& k : knobs) {
    knob_rows.push_back({k.env_name, k.value, k.default_value, k.range});
  }
  fmt::print("{}", render_table(knob_rows));
  fmt::print("\nDescriptions: docs/knobs.md or `knnx info --knobs-markdown`.\n");
}

// ------------------------------------------------------------------------------------------
// Index files

// Bytes the index's payload takes in memory once loaded (what the file stores; backends add
// per-vector norms and, on a GPU, row padding).
struct Memory {
  std::uint64_t vectors = 0;
  std::uint64_t ids = 0;
  std::uint64_t centroids = 0;
  std::uint64_t transforms = 0;  // the chain's matrices and means
  std::uint64_t total() const { return vectors + ids + centroids + transforms; }
};

Memory memory_of(const IndexFileInfo& info) {
  Memory m;
  const auto n = static_cast<std::uint64_t>(info.ntotal);
  const auto dim = static_cast<std::uint64_t>(info.stored_dim);
  // Scalar-quantizer codes instead of float32 vectors.
  std::uint64_t row_bytes = dim * sizeof(float);
  if (info.quantizer == "SQ8") row_bytes = dim;
  if (info.quantizer == "SQ4") row_bytes = (dim + 1) / 2;
  if (info.quantizer == "SQfp16" || info.quantizer == "SQbf16") row_bytes = 2 * dim;
  // Product-quantizer codes, pq_m * pq_nbits / 8 bytes a vector (their 2^pq_nbits x dim codebook
  // entries count as centroids).
  if (info.pq_m > 0) row_bytes = static_cast<std::uint64_t>(info.pq_m) * info.pq_nbits / 8;
  m.vectors = n * row_bytes;
  m.ids = n * sizeof(std::int64_t);
  if (info.trained && info.n_lists > 0) {
    m.centroids = static_cast<std::uint64_t>(info.n_lists) * dim * sizeof(float);
  }
  if (info.trained && info.pq_m > 0) {
    m.centroids += (std::uint64_t{1} << info.pq_nbits) * dim * sizeof(float);
  }
  for (const IndexFileInfo& base : info.base_index) {  // RefineFlat: the base index besides
    const Memory b = memory_of(base);
    m.vectors += b.vectors;
    m.ids += b.ids;
    m.centroids += b.centroids;
    m.transforms += b.transforms;
  }
  for (const IndexFileTransform& t : info.transforms) {
    if (!t.trained || t.type == "L2Normalize") continue;
    const auto d_in = static_cast<std::uint64_t>(t.d_in);
    const auto d_out = static_cast<std::uint64_t>(t.d_out);
    m.transforms += (d_in + 2 * d_in * d_out) * sizeof(float);
  }
  return m;
}

nlohmann::ordered_json transforms_json(const IndexFileInfo& info) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const IndexFileTransform& t : info.transforms) {
    nlohmann::ordered_json j = {
        {"type", t.type}, {"d_in", t.d_in}, {"d_out", t.d_out}, {"trained", t.trained}};
    if (t.type == "PCA") {
      j["whiten"] = t.whiten;
      j["whiten_eps"] = json_number(t.whiten_eps);
    }
    if (t.type == "RandomRotation" || t.type == "OPQ") j["seed"] = t.seed;
    if (t.type == "OPQ") {
      j["m"] = t.m;
      j["n_iter"] = t.n_iter;
      j["ksub"] = t.ksub;
    }
    out.push_back(j);
  }
  return out;
}

struct ListStats {
  idx_t min = 0, max = 0, median = 0, empty = 0;
  double mean = 0.0;
  double imbalance = 0.0;  // n_lists * sum(size^2) / ntotal^2, as IndexIVFFlat::imbalance_factor
  // Lists per size bucket: bucket 0 holds empty lists, bucket b >= 1 sizes in [2^(b-1), 2^b).
  std::vector<idx_t> buckets;
};

ListStats list_stats(const std::vector<idx_t>& sizes) {
  ListStats st;
  if (sizes.empty()) return st;
  std::vector<idx_t> sorted = sizes;
  std::sort(sorted.begin(), sorted.end());
  st.min = sorted.front();
  st.max = sorted.back();
  st.median = sorted[sorted.size() / 2];
  double total = 0.0, squares = 0.0;
  for (idx_t s : sizes) {
    total += static_cast<double>(s);
    squares += static_cast<double>(s) * static_cast<double>(s);
    if (s == 0) ++st.empty;
    std::size_t b = 0;
    while (b < 63 && (idx_t{1} << b) <= s) ++b;
    if (st.buckets.size() <= b) st.buckets.resize(b + 1, 0);
    ++st.buckets[b];
  }
  st.mean = total / static_cast<double>(sizes.size());
  st.imbalance = total > 0.0 ? static_cast<double>(sizes.size()) * squares / (total * total) : 0.0;
  return st;
}

// [from, to] sizes of a bucket.
std::pair<idx_t, idx_t> bucket_range(std::size_t b) {
  if (b == 0) return {0, 0};
  return {idx_t{1} << (b - 1), (idx_t{1} << b) - 1};
}

std::string init_name(KMeansParams::Init init) {
  return init == KMeansParams::Init::Random ? "random" : "k-means++";
}

void print_file_json(const std::string& path, const IndexFileInfo& info) {
  const Memory mem = memory_of(info);
  nlohmann::ordered_json j;
  j["command"] = "info";
  j["version"] = kVersionString;
  j["file"] = path;
  j["file_size"] = info.file_size;
  j["format_version"] = info.format_version;
  j["checksums"] = "ok";
  j["index_type"] = info.index_type;
  j["metric"] = to_string(info.metric);
  j["dim"] = info.dim;
  j["stored_dim"] = info.stored_dim;
  j["transforms"] = transforms_json(info);
  j["ntotal"] = info.ntotal;
  j["trained"] = info.trained;
  j["next_id"] = info.next_id;
  j["memory_bytes"] = {{"vectors", mem.vectors},
                       {"ids", mem.ids},
                       {"centroids", mem.centroids},
                       {"transforms", mem.transforms},
                       {"total", mem.total()}};
  nlohmann::ordered_json sections = nlohmann::ordered_json::array();
  for (const IndexFileSection& s : info.sections) {
    sections.push_back({{"name", s.name},
                        {"offset", s.offset},
                        {"size", s.size},
                        {"crc32c", fmt::format("0x{:08x}", s.checksum)}});
  }
  j["sections"] = sections;
  if (!info.quantizer.empty()) j["quantizer"] = info.quantizer;
  if (info.index_type == "IVFScalarQuantizer") j["by_residual"] = info.by_residual;
  if (info.pq_m > 0) {
    j["pq_m"] = info.pq_m;
    j["pq_nbits"] = info.pq_nbits;
  }
  if (!info.base_index.empty()) {
    const IndexFileInfo& base = info.base_index.front();
    j["k_factor"] = info.k_factor;
    j["base_index"] = {{"index_type", base.index_type}, {"ntotal", base.ntotal},
                       {"n_lists", base.n_lists},       {"n_probe", base.n_probe},
                       {"quantizer", base.quantizer},   {"pq_m", base.pq_m},
                       {"pq_nbits", base.pq_nbits},     {"file_size", base.file_size}};
  }
  if (info.n_lists > 0) {
    j["n_lists"] = info.n_lists;
    j["n_probe"] = info.n_probe;
    j["kmeans"] = {{"n_iter", info.kmeans.n_iter},
                   {"init", init_name(info.kmeans.init)},
                   {"max_points_per_centroid", info.kmeans.max_points_per_centroid},
                   {"min_points_per_centroid", info.kmeans.min_points_per_centroid},
                   {"init_points_per_centroid", info.kmeans.init_points_per_centroid},
                   {"seed", info.kmeans.seed},
                   {"spherical", info.kmeans.spherical}};
    const ListStats st = list_stats(info.list_sizes);
    nlohmann::ordered_json histogram = nlohmann::ordered_json::array();
    for (std::size_t b = 0; b < st.buckets.size(); ++b) {
      const auto [from, to] = bucket_range(b);
      histogram.push_back({{"from", from}, {"to", to}, {"lists", st.buckets[b]}});
    }
    j["lists"] = {{"min", st.min},          {"max", st.max},
                  {"mean", st.mean},        {"median", st.median},
                  {"empty", st.empty},      {"imbalance_factor", st.imbalance},
                  {"histogram", histogram}, {"sizes", info.list_sizes}};
  }
  fmt::print("{}\n", j.dump(2));
}

void print_file_text(const std::string& path, const IndexFileInfo& info) {
  const Memory mem = memory_of(info);
  fmt::print("knnx {}  info  {}\n\n", kVersionString, path);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"file", fmt::format("{} ({} bytes), format version {}, checksums ok",
                                      format_bytes(static_cast<double>(info.file_size)),
                                      info.file_size, info.format_version)});
  for (std::size_t i = 0; i < info.transforms.size(); ++i) {
    rows.push_back({i == 0 ? "transforms" : "",
                    fmt::format("{}. {}", i + 1, describe_transform(info.transforms[i]))});
  }
  // "SQ8 codes", "SQ8 codes of residuals", "codes of 16 x 8 bits" after the type of the
  // scalar-quantizer indexes.
  std::string codes;
  if (!info.quantizer.empty()) {
    codes = fmt::format(" ({} codes{})", info.quantizer, info.by_residual ? " of residuals" : "");
  }
  if (info.pq_m > 0) codes = fmt::format(" (codes of {} x {} bits)", info.pq_m, info.pq_nbits);
  if (info.n_lists > 0) {
    rows.push_back({"index", fmt::format("{}{}: {} lists, n_probe {}, {}", info.index_type, codes,
                                         info.n_lists, info.n_probe,
                                         info.trained ? "trained" : "not trained")});
    rows.push_back(
        {"k-means",
         fmt::format("{} iterations, {} init, seed {}; training sample of at most {} "
                     "points per centroid (a warning below {}){}",
                     info.kmeans.n_iter, init_name(info.kmeans.init), info.kmeans.seed,
                     info.kmeans.max_points_per_centroid, info.kmeans.min_points_per_centroid,
                     info.kmeans.spherical ? ", spherical" : "")});
  } else if (!info.quantizer.empty() || info.pq_m > 0) {
    rows.push_back({"index", fmt::format("{}{}, {}", info.index_type, codes,
                                         info.trained ? "trained" : "not trained")});
  } else if (!info.base_index.empty()) {
    const IndexFileInfo& base = info.base_index.front();
    rows.push_back(
        {"index",
         fmt::format("RefineFlat: k_factor {:g}, the exact vectors over an {} base index{}, {}",
                     info.k_factor, base.index_type,
                     base.n_lists > 0 ? fmt::format(" of {} lists", base.n_lists) : std::string(),
                     info.trained ? "trained" : "not trained")});
  } else {
    rows.push_back({"index", "Flat"});
  }
  rows.push_back(
      {"vectors",
       fmt::format("{} x {}, metric {}{}", info.ntotal, info.dim, to_string(info.metric),
                   info.transforms.empty() ? std::string()
                                           : fmt::format(" (stored as {} x {} after the "
                                                         "transforms)",
                                                         info.ntotal, info.stored_dim))});
  rows.push_back({"next id", fmt::format("{}", info.next_id)});
  rows.push_back(
      {"memory",
       fmt::format(
           "{} (vectors {}, ids {}{}{})", format_bytes(static_cast<double>(mem.total())),
           format_bytes(static_cast<double>(mem.vectors)),
           format_bytes(static_cast<double>(mem.ids)),
           mem.centroids > 0
               ? fmt::format(", centroids {}", format_bytes(static_cast<double>(mem.centroids)))
               : std::string(),
           mem.transforms > 0
               ? fmt::format(", transforms {}", format_bytes(static_cast<double>(mem.transforms)))
               : std::string())});
  fmt::print("{}\n", render_table(rows));

  std::vector<std::vector<std::string>> sections = {{"section", "offset", "bytes", "crc32c"}};
  for (const IndexFileSection& s : info.sections) {
    sections.push_back({s.name, fmt::format("{}", s.offset), fmt::format("{}", s.size),
                        fmt::format("0x{:08x}", s.checksum)});
  }
  fmt::print("{}", render_table(sections));

  if (info.n_lists > 0 && info.ntotal > 0) {
    const ListStats st = list_stats(info.list_sizes);
    fmt::print("\nlist sizes: min {}, median {}, mean {:.1f}, max {}; {} empty; imbalance {:.3f}\n",
               st.min, st.median, st.mean, st.max, st.empty, st.imbalance);
    idx_t most = 1;
    for (idx_t c : st.buckets) most = std::max(most, c);
    constexpr int kBarWidth = 40;
    std::vector<std::vector<std::string>> hist = {{"size", "lists", ""}};
    std::size_t first = 0;  // sizes below the smallest list are left out
    while (first + 1 < st.buckets.size() && st.buckets[first] == 0) ++first;
    for (std::size_t b = first; b < st.buckets.size(); ++b) {
      const auto [from, to] = bucket_range(b);
      const int bar = static_cast<int>((st.buckets[b] * kBarWidth + most - 1) / most);
      hist.push_back({from == to ? fmt::format("{}", from) : fmt::format("{}-{}", from, to),
                      fmt::format("{}", st.buckets[b]),
                      std::string(static_cast<std::size_t>(bar), '#')});
    }
    fmt::print("{}", render_table(hist, "  "));
  }
}

void print_file(const std::string& path, bool json) {
  const IndexFileInfo info = read_index_info(path);
  if (json) {
    print_file_json(path, info);
  } else {
    print_file_text(path, info);
  }
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* app = parent.add_subcommand(
      "info",
      "Show the version, backends, CUDA devices, OpenMP threads and config knobs; or, given an "
      "index file, what it holds");
  app->footer(
      "knnx info FILE verifies every checksum of an index file (docs/file_format.md) and prints\n"
      "its header, its sections, the transforms in front of the index (PCA, OPQ, ...), the\n"
      "memory its vectors, ids, centroids and transforms take once loaded, and for IVF indexes\n"
      "the k-means settings and a histogram of list sizes.\n");
  auto* file = app->add_option("file", options->file, "Index file to describe");
  app->add_flag("--json", options->json, "Print one JSON object instead of text");
  app->add_flag("--knobs-markdown", options->knobs_markdown,
                "Print the knob reference page (docs/knobs.md) as markdown")
      ->excludes("--json")
      ->excludes(file);
  return {app, [options] {
            if (!options->file.empty()) {
              print_file(options->file, options->json);
              return;
            }
            if (options->knobs_markdown) {
              fmt::print("{}", knobs_markdown());
              return;
            }
            const std::vector<KnobInfo> knobs = describe_knobs();
            const std::vector<DeviceEntry> devices = cuda_devices();
            if (options->json) {
              print_json(devices, knobs);
            } else {
              print_text(devices, knobs);
            }
          }};
}

}  // namespace knnx::cli
