#include "knnx/metric.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>

#include "knnx/error.hpp"

namespace knnx {

Metric parse_metric(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "l2" || s == "euclidean" || s == "sqeuclidean") return Metric::L2;
  if (s == "ip" || s == "inner_product" || s == "innerproduct" || s == "dot") {
    return Metric::InnerProduct;
  }
  throw InvalidArgument(fmt::format("metric must be \"l2\" or \"ip\", got \"{}\"", name));
}

std::string to_string(Metric metric) { return metric == Metric::L2 ? "l2" : "ip"; }

float empty_distance(Metric metric) {
  return metric == Metric::L2 ? std::numeric_limits<float>::infinity()
                              : -std::numeric_limits<float>::infinity();
}

}  // namespace knnx
