// knnx/metric.hpp — the distance measures an index ranks by.
//
// L2 results are squared Euclidean distances, ascending. Inner-product results are dot
// products, descending. Missing results carry +inf (L2) or -inf (inner product).
#pragma once

#include <string>
#include <string_view>

namespace knnx {

enum class Metric { L2, InnerProduct };

// "l2" / "L2" / "euclidean" and "ip" / "inner_product" / "dot"; throws InvalidArgument otherwise.
Metric parse_metric(std::string_view name);
std::string to_string(Metric metric);

// The distance written where a result slot is empty: +inf for L2, -inf for inner product.
float empty_distance(Metric metric);

// True when a is a better (closer) result than b under the metric.
inline bool is_better(Metric metric, float a, float b) {
  return metric == Metric::L2 ? a < b : a > b;
}

}  // namespace knnx
