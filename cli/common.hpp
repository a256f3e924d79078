// cli/common.hpp — what every knnx subcommand shares: exit codes, error reporting, timing,
// plain-text tables, option validators and the generated-data options.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "knnx/synthetic.hpp"
#include "knnx/types.hpp"

namespace knnx::cli {

// Exit codes of the knnx tool.
inline constexpr int kExitOk = 0;
inline constexpr int kExitOther = 1;     // anything that is not a knnx error
inline constexpr int kExitUsage = 2;     // bad command line
inline constexpr int kExitBadInput = 3;  // InvalidArgument, FormatError, IoError
inline constexpr int kExitKnnx = 4;      // any other knnx::Error (CudaError, NotSupported, ...)

// A command-line mistake found after parsing (e.g. no data source given).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Prints "knnx: error: <message>" to stderr.
void print_error(const std::string& message);

// Runs a subcommand, translating every exception into its exit code and an error message.
int run_guarded(const std::string& command, const std::function<void()>& body);

// Seconds elapsed since construction, on std::chrono::steady_clock.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The most resident host memory this process has used so far (getrusage's maximum RSS), bytes.
std::uint64_t peak_host_bytes();

// Seconds taken by fn(), measured with a Stopwatch.
double time_seconds(const std::function<void()>& fn);

// "812 us", "12.3 ms", "1.234 s".
std::string format_duration(double seconds);
// "812 unit", "12.3 k unit", "1.23 M unit".
std::string format_rate(double per_second, const std::string& unit);

// "812 B", "12.3 KiB", "1.50 MiB", "2.00 GiB".
std::string format_bytes(double bytes);

// Rows of cells rendered with columns padded to their widest cell, separated by two spaces;
// trailing spaces are trimmed. indent is prepended to every line.
std::string render_table(const std::vector<std::vector<std::string>>& rows,
                         const std::string& indent = "");

bool ends_with(const std::string& s, const std::string& suffix);

// A float option as the JSON number it was written as (0.2, not 0.20000000298023224).
double json_number(float f);

// Adds the mixture's clusters, center_stddev, noise_stddev and seed to a JSON object.
void add_mixture_fields(nlohmann::ordered_json& j, const MixtureSpec& mixture);

// CLI11 validator function: "" when spec names a device (cpu, cuda, cuda:N), else why not.
std::string check_device(const std::string& spec);

// Sets KNNX_NUM_THREADS for this process when the option was given.
void apply_threads(const std::optional<int>& threads);

// CPU threads a search uses: KNNX_NUM_THREADS when set, else OpenMP's default.
int cpu_threads();

// Median of the values (at least one).
double median(std::vector<double> values);

// Base vectors and queries of one dimension.
struct VectorSets {
  Matrix<float> base;
  Matrix<float> queries;
};
// Reads the base and (the first nq of) the queries; InvalidArgument when either holds no vectors
// or their dimensions differ.
VectorSets read_base_and_queries(const std::string& base_path, const std::string& queries_path,
                                 std::optional<idx_t> nq);
// Reads (the first nq of) the queries; InvalidArgument when the file holds none.
Matrix<float> read_queries(const std::string& queries_path, std::optional<idx_t> nq);
// n base vectors and nq queries drawn from the mixture (streams kBaseStream, kQueryStream).
VectorSets generate_base_and_queries(const MixtureSpec& mixture, idx_t n, idx_t nq);

// Registers --generate N and the mixture options (--dim, --clusters, --center-stddev,
// --noise-stddev, --seed) that need it; returns the --generate option.
CLI::Option* add_generate_options(CLI::App* app, idx_t& generate, MixtureSpec& mixture,
                                  const std::string& generate_help);

}  // namespace knnx::cli
