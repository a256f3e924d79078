// index_factory / parse_index_spec: "Flat" and "IVF<n>,Flat".
#include "knnx/index_factory.hpp"

#include <fmt/format.h>

#include <limits>
#include <string>
#include <vector>

#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"

namespace knnx {
namespace {

constexpr std::string_view kSupported = "supported specs are \"Flat\" and \"IVF<n_lists>,Flat\"";

[[noreturn]] void reject(std::string_view spec, const std::string& why) {
  throw InvalidArgument(
      fmt::format("index_factory: unsupported index spec \"{}\": {}; {}", spec, why, kSupported));
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_components(std::string_view spec) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = spec.find(',', start);
    parts.push_back(trim(spec.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parts;
}

// n_lists of an "IVF<n>" component.
int parse_ivf(std::string_view spec, std::string_view part) {
  const std::string_view digits = part.substr(3);
  if (digits.empty()) reject(spec, fmt::format("'{}' needs a number of lists, as in IVF1024", part));
  long long n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      reject(spec, fmt::format("'{}': the number of lists must be a decimal integer", part));
    }
    n = n * 10 + (c - '0');
    if (n > std::numeric_limits<int>::max()) {
      reject(spec, fmt::format("'{}': the number of lists must be at most {}", part,
                               std::numeric_limits<int>::max()));
    }
  }
  if (n < 1) reject(spec, fmt::format("'{}': the number of lists must be >= 1", part));
  return static_cast<int>(n);
}

}  // namespace

IndexSpec parse_index_spec(std::string_view spec) {
  const std::vector<std::string_view> parts = split_components(spec);
  for (std::string_view p : parts) {
    if (p.empty()) reject(spec, "it has an empty component");
  }
  const std::string_view storage = parts.back();
  if (storage != "Flat") {
    reject(spec, fmt::format("the last component must be the storage 'Flat', got '{}'", storage));
  }
  if (parts.size() == 1) return {IndexSpec::Kind::Flat, 0};
  if (parts.size() > 2) {
    reject(spec, fmt::format("'{}' is not supported: knnx builds no transforms or second "
                             "quantizers",
                             parts.front()));
  }
  const std::string_view coarse = parts.front();
  if (coarse.substr(0, 3) != "IVF") {
    reject(spec, fmt::format("'{}' is not a coarse quantizer knnx knows", coarse));
  }
  return {IndexSpec::Kind::IVFFlat, parse_ivf(spec, coarse)};
}

std::unique_ptr<Index> index_factory(int dim, const IndexSpec& spec, Metric metric,
                                     Device device) {
  if (spec.kind == IndexSpec::Kind::IVFFlat) {
    return std::make_unique<IndexIVFFlat>(dim, spec.n_lists, metric, device);
  }
  return std::make_unique<IndexFlat>(dim, metric, device);
}

std::unique_ptr<Index> index_factory(int dim, std::string_view spec, Metric metric,
                                     Device device) {
  return index_factory(dim, parse_index_spec(spec), metric, device);
}

}  // namespace knnx
