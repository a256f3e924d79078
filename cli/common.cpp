#include "common.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>

#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/vector_io.hpp"

namespace knnx::cli {

void print_error(const std::string& message) {
  std::fflush(stdout);  // keep what was already printed ahead of the error
  fmt::print(stderr, "knnx: error: {}\n", message);
}

namespace {

// What a command printed must have reached its destination: a full disk or /dev/full makes the
// command fail with a message instead of exiting 0 with its output lost.
void check_stdout_written() {
  std::cout.flush();
  errno = 0;
  if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot write to standard output: {}",
                              err != 0 ? std::strerror(err) : "an earlier write failed"));
  }
}

}  // namespace

int run_guarded(const std::string& command, const std::function<void()>& body) {
  try {
    body();
    check_stdout_written();
    return kExitOk;
  } catch (const UsageError& e) {
    print_error(e.what());
    fmt::print(stderr, "Run 'knnx {} --help' for usage.\n", command);
    return kExitUsage;
  } catch (const InvalidArgument& e) {
    print_error(e.what());
    return kExitBadInput;
  } catch (const FormatError& e) {
    print_error(e.what());
    return kExitBadInput;
  } catch (const IoError& e) {
    print_error(e.what());
    return kExitBadInput;
  } catch (const Error& e) {
    print_error(e.what());
    return kExitKnnx;
  } catch (const std::bad_alloc&) {
    print_error("out of host memory");
    return kExitOther;
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitOther;
  } catch (...) {
    print_error("unknown exception");
    return kExitOther;
  }
}

std::uint64_t peak_host_bytes() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

double time_seconds(const std::function<void()>& fn) {
  const Stopwatch watch;
  fn();
  return watch.seconds();
}

std::string format_duration(double seconds) {
  if (seconds < 1e-3) return fmt::format("{:.0f} us", seconds * 1e6);
  if (seconds < 1.0) return fmt::format("{:.1f} ms", seconds * 1e3);
  return fmt::format("{:.3f} s", seconds);
}

std::string format_rate(double per_second, const std::string& unit) {
  if (per_second >= 1e9) return fmt::format("{:.2f} G {}", per_second / 1e9, unit);
  if (per_second >= 1e6) return fmt::format("{:.2f} M {}", per_second / 1e6, unit);
  if (per_second >= 1e4) return fmt::format("{:.1f} k {}", per_second / 1e3, unit);
  if (per_second >= 100.0) return fmt::format("{:.0f} {}", per_second, unit);
  return fmt::format("{:.3g} {}", per_second, unit);  // slow steps: 0.42 iterations/s, not 0
}

std::string format_bytes(double bytes) {
  if (bytes >= 1024.0 * 1024.0 * 1024.0) {
    return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  }
  if (bytes >= 1024.0 * 1024.0) return fmt::format("{:.2f} MiB", bytes / (1024.0 * 1024.0));
  if (bytes >= 1024.0) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  return fmt::format("{:.0f} B", bytes);
}

std::string render_table(const std::vector<std::vector<std::string>>& rows,
                         const std::string& indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double json_number(float f) { return std::stod(fmt::format("{}", f)); }

void add_mixture_fields(nlohmann::ordered_json& j, const MixtureSpec& mixture) {
  j["clusters"] = mixture.n_clusters;
  j["center_stddev"] = json_number(mixture.center_stddev);
  j["noise_stddev"] = json_number(mixture.noise_stddev);
  j["seed"] = mixture.seed;
}

std::string check_device(const std::string& spec) {
  try {
    Device::parse(spec);
    return {};
  } catch (const InvalidArgument& e) {
    return e.what();
  }
}

void apply_threads(const std::optional<int>& threads) {
  if (!threads) return;
  Config c = config();
  c.num_threads = *threads;
  set_config(c);
}

int cpu_threads() {
  return config().num_threads > 0 ? config().num_threads : omp_get_max_threads();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t m = values.size() / 2;
  return values.size() % 2 == 1 ? values[m] : 0.5 * (values[m - 1] + values[m]);
}

namespace {

void check_not_empty(const Matrix<float>& m, const std::string& what, const std::string& path) {
  if (m.rows == 0) throw InvalidArgument(fmt::format("{} file {} holds no vectors", what, path));
}

}  // namespace

Matrix<float> read_queries(const std::string& queries_path, std::optional<idx_t> nq) {
  Matrix<float> queries = read_vectors(queries_path, nq.value_or(-1));
  check_not_empty(queries, "queries", queries_path);
  return queries;
}

VectorSets read_base_and_queries(const std::string& base_path, const std::string& queries_path,
                                 std::optional<idx_t> nq) {
  VectorSets sets;
  sets.base = read_vectors(base_path);
  check_not_empty(sets.base, "base", base_path);
  sets.queries = read_queries(queries_path, nq);
  if (sets.base.cols != sets.queries.cols) {
    throw InvalidArgument(
        fmt::format("base vectors ({}) have dimension {} but queries ({}) have dimension {}",
                    base_path, sets.base.cols, queries_path, sets.queries.cols));
  }
  return sets;
}

VectorSets generate_base_and_queries(const MixtureSpec& mixture, idx_t n, idx_t nq) {
  const GaussianMixture gm(mixture);
  return {gm.sample(n, kBaseStream).vectors, gm.sample(nq, kQueryStream).vectors};
}

CLI::Option* add_generate_options(CLI::App* app, idx_t& generate, MixtureSpec& mixture,
                                  const std::string& generate_help) {
  CLI::Option* gen = app->add_option("--generate", generate, generate_help)
                         ->check(CLI::Range(idx_t{1}, idx_t{1} << 40));
  app->add_option("--dim", mixture.dim, "Dimension of generated vectors")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxDim))
      ->needs(gen);
  app->add_option("--clusters", mixture.n_clusters, "Clusters of the generated mixture")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24))
      ->needs(gen);
  app->add_option("--center-stddev", mixture.center_stddev, "Spread of generated cluster centres")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1e6f))
      ->needs(gen);
  app->add_option("--noise-stddev", mixture.noise_stddev,
                  "Spread of generated points around their centre")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1e6f))
      ->needs(gen);
  app->add_option("--seed", mixture.seed, "Seed of the generated data")
      ->capture_default_str()
      ->needs(gen);
  return gen;
}

}  // namespace knnx::cli
