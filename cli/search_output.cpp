// The output stages of `knnx search`: result files (--out) and the report, as text or JSON.
#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "index_chain.hpp"
#include "knnx/error.hpp"
#include "knnx/metric.hpp"
#include "knnx/vector_io.hpp"
#include "knnx/version.hpp"
#include "search.hpp"

namespace knnx::cli {
namespace {

using json = nlohmann::ordered_json;

json transforms_json(const std::vector<const VectorTransform*>& transforms) {
  json out = json::array();
  for (const VectorTransform* t : transforms) {
    out.push_back(
        {{"transform", describe_transform(*t)}, {"d_in", t->d_in()}, {"d_out", t->d_out()}});
  }
  return out;
}

json data_json(const SearchReport& r) {
  const SearchOptions& o = r.options;
  json d;
  if (o.generate > 0) {
    d["source"] = "generated";
    add_mixture_fields(d, o.mixture);
  } else {
    d["source"] = "files";
    if (o.index_path.empty()) d["base"] = o.base_path;
    d["queries"] = o.queries_path;
  }
  d["n"] = r.searched.index->ntotal();
  d["nq"] = r.results.nq;
  d["dim"] = r.searched.index->dim();
  return d;
}

json timings_json(const SearchReport& r) {
  json t;
  t[r.options.generate > 0 ? "generate" : "load"] = r.data.seconds;
  if (r.searched.load_seconds) t["load_index"] = *r.searched.load_seconds;
  if (r.searched.add_seconds) t["add"] = *r.searched.add_seconds;
  t["search"] = r.search_median;
  if (r.truth.computed) t["ground_truth"] = r.truth.seconds;
  return t;
}

// The first `show` queries' neighbours. Missing results carry infinite distances, which JSON
// cannot hold: they become null.
json shown_json(const Results& results, idx_t show) {
  json shown = json::array();
  for (idx_t q = 0; q < show; ++q) {
    const auto begin = static_cast<std::ptrdiff_t>(q * results.k);
    const auto end = begin + results.k;
    shown.push_back({{"query", q},
                     {"labels", std::vector<idx_t>(results.labels.data.begin() + begin,
                                                   results.labels.data.begin() + end)},
                     {"distances", std::vector<float>(results.distances.begin() + begin,
                                                      results.distances.begin() + end)}});
  }
  return shown;
}

std::string device_name(Device device) {
  return device.is_cpu() ? std::string("cpu") : cuda_device_name(device.ordinal);
}

idx_t shown_queries(const SearchReport& r) { return std::min<idx_t>(r.options.show, r.results.nq); }

std::vector<std::vector<std::string>> data_rows(const SearchReport& r) {
  const SearchOptions& o = r.options;
  const idx_t n = r.searched.index->ntotal();
  const int dim = r.searched.index->dim();
  const idx_t nq = r.results.nq;
  std::vector<std::vector<std::string>> rows;
  if (!o.index_path.empty()) {
    rows.push_back({"index", fmt::format("{}  ({} x {})", o.index_path, n, dim)});
    if (o.generate > 0) {
      rows.push_back({"queries", fmt::format("generated: {} x {} (Gaussian mixture: {} clusters, "
                                             "seed {})",
                                             nq, dim, o.mixture.n_clusters, o.mixture.seed)});
    } else {
      rows.push_back({"queries", fmt::format("{}  ({} x {})", o.queries_path, nq, dim)});
    }
  } else if (o.generate > 0) {
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
  return rows;
}

std::vector<std::vector<std::string>> timing_rows(const SearchReport& r) {
  const double n = static_cast<double>(r.searched.index->ntotal());
  const double nq = static_cast<double>(r.results.nq);
  std::vector<std::vector<std::string>> rows = {{"step", "time", "rate"}};
  rows.push_back(
      {r.options.generate > 0 ? "generate" : "load", format_duration(r.data.seconds), ""});
  if (r.searched.load_seconds) {
    rows.push_back({"load index", format_duration(*r.searched.load_seconds),
                    format_rate(n / *r.searched.load_seconds, "vectors/s")});
  }
  if (r.searched.add_seconds) {
    rows.push_back({"add", format_duration(*r.searched.add_seconds),
                    format_rate(n / *r.searched.add_seconds, "vectors/s")});
  }
  rows.push_back({"search", format_duration(r.search_median),
                  format_rate(nq / r.search_median, "queries/s") +
                      (r.options.repeat > 1 ? fmt::format("  (median of {} runs)", r.options.repeat)
                                            : std::string())});
  if (r.truth.computed) {
    rows.push_back({"ground truth", format_duration(r.truth.seconds), r.truth.source});
  }
  return rows;
}

// Two rows per shown query: its number and neighbour labels, then the distances.
std::vector<std::vector<std::string>> neighbour_rows(const Results& results, idx_t show) {
  std::vector<std::vector<std::string>> rows;
  for (idx_t q = 0; q < show; ++q) {
    std::vector<std::string> labels = {fmt::format("{}", q)};
    std::vector<std::string> dists = {""};
    for (int j = 0; j < results.k; ++j) {
      const std::size_t at = static_cast<std::size_t>(q * results.k + j);
      labels.push_back(fmt::format("{}", results.labels.data[at]));
      dists.push_back(fmt::format("{:.6g}", results.distances[at]));
    }
    rows.push_back(std::move(labels));
    rows.push_back(std::move(dists));
  }
  return rows;
}

}  // namespace

ResultFiles result_files(const std::string& out) {
  if (ends_with(out, ".npy")) {
    return {out, out.substr(0, out.size() - 4) + ".distances.npy"};
  }
  return {out, out.substr(0, out.size() - 6) + ".distances.fvecs"};  // ".ivecs"
}

std::string check_result_path(const std::string& path) {
  if (ends_with(path, ".npy") || ends_with(path, ".ivecs")) return {};
  return fmt::format("must end in .npy or .ivecs, got \"{}\"", path);
}

void write_results(const ResultFiles& paths, const Results& r) {
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

void print_search_json(const SearchReport& r) {
  const SearchOptions& o = r.options;
  const Searched& s = r.searched;
  json j;
  j["command"] = "search";
  j["version"] = kVersionString;
  j["index"] = s.name;
  if (!o.index_path.empty()) {
    j["transforms"] = transforms_json(s.transforms);
    j["index_file"] = o.index_path;
    j["n_lists"] = s.ivf != nullptr      ? json(s.ivf->n_lists())
                   : s.ivf_sq != nullptr ? json(s.ivf_sq->n_lists())
                   : s.ivf_pq != nullptr ? json(s.ivf_pq->n_lists())
                                         : json(nullptr);
    j["n_probe"] = s.ivf != nullptr      ? json(s.ivf->n_probe())
                   : s.ivf_sq != nullptr ? json(s.ivf_sq->n_probe())
                   : s.ivf_pq != nullptr ? json(s.ivf_pq->n_probe())
                                         : json(nullptr);
  }
  j["metric"] = to_string(s.index->metric());
  j["device"] = r.device.to_string();
  j["device_name"] = device_name(r.device);
  j["precision"] = o.precision;
  j["cpu_threads"] = cpu_threads();
  j["k"] = o.k;
  j["data"] = data_json(r);
  j["timings_s"] = timings_json(r);
  j["search_runs_s"] = r.search_runs;
  j["queries_per_s"] = static_cast<double>(r.results.nq) / r.search_median;
  j["recall"] = r.recall ? json{{"k", o.k}, {"value", *r.recall}, {"ground_truth", r.truth.source}}
                         : json(nullptr);
  j["output"] =
      r.out ? json{{"labels", r.out->labels}, {"distances", r.out->distances}} : json(nullptr);
  j["results"] = shown_json(r.results, shown_queries(r));
  fmt::print("{}\n", j.dump(2));
}

void print_search_text(const SearchReport& r) {
  const SearchOptions& o = r.options;
  const Searched& s = r.searched;
  const std::string settings =
      s.ivf != nullptr ? fmt::format(", {} lists, n_probe {}", s.ivf->n_lists(), s.ivf->n_probe())
      : s.ivf_pq != nullptr
          ? fmt::format(", {} lists, n_probe {}", s.ivf_pq->n_lists(), s.ivf_pq->n_probe())
          : std::string(o.precision == "fast" ? ", fast" : "");
  const std::string chain_text =
      s.transforms.empty() ? std::string() : describe_chain(s.transforms) + " + ";
  fmt::print("knnx {}  search  {}{} ({}{}) on {}{}  k = {}\n\n", kVersionString, chain_text, s.name,
             to_string(s.index->metric()), settings, r.device.to_string(),
             r.device.is_cpu() ? fmt::format(" ({} threads)", cpu_threads())
                               : fmt::format(" ({})", device_name(r.device)),
             o.k);
  fmt::print("{}\n", render_table(data_rows(r)));
  fmt::print("{}\n", render_table(timing_rows(r)));
  if (r.recall) {
    fmt::print("recall@{}  {:.4f}  (ground truth: {})\n\n", o.k, *r.recall, r.truth.source);
  }
  const idx_t show = shown_queries(r);
  if (show > 0) {
    fmt::print("first {} of {} queries: neighbour labels, then distances\n", show, r.results.nq);
    fmt::print("{}\n", render_table(neighbour_rows(r.results, show), "  "));
  }
  if (r.out) {
    fmt::print("wrote labels to {} and distances to {}\n", r.out->labels, r.out->distances);
  }
}

}  // namespace knnx::cli
