// core/metric_dispatch.hpp — the one place a run-time knnx::Metric becomes a compile-time one,
// for both backends.
//
// Code that scores rows (CUDA kernels, CPU scans) is a template on `Metric M`; its caller
// passes the run-time metric through dispatch_metric instead of branching on it:
//
//   dispatch_metric(metric, [&](auto m) { kernel<decltype(m)::value><<<...>>>(...); });
//   dispatch_metric(metric, [&](auto m) { scan<decltype(m)::value>(...); });
#pragma once

#include <type_traits>

#include "knnx/metric.hpp"

namespace knnx::detail {

// A metric as a type: MetricTag<M>::value is M.
template <Metric M>
using MetricTag = std::integral_constant<Metric, M>;

// True for the metric whose scores are squared distances (the others rank negated products).
template <Metric M>
inline constexpr bool kIsL2 = M == Metric::L2;

// Calls f(MetricTag<metric>{}) and returns what it returns.
template <typename F>
decltype(auto) dispatch_metric(Metric metric, F&& f) {
  switch (metric) {
    case Metric::InnerProduct:
      return f(MetricTag<Metric::InnerProduct>{});
    case Metric::L2:
      break;
  }
  return f(MetricTag<Metric::L2>{});
}

}  // namespace knnx::detail
