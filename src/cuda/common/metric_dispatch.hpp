// cuda/common/metric_dispatch.hpp — the metric dispatch of core/metric_dispatch.hpp under the
// CUDA backend's names.
#pragma once

#include "core/metric_dispatch.hpp"

namespace knnx::cuda {

using detail::dispatch_metric;
using detail::kIsL2;
using detail::MetricTag;

}  // namespace knnx::cuda
