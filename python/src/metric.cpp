// metric.cpp — knnx.Metric, the distance an index ranks by.
#include "knnx/metric.hpp"

#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include "bindings.hpp"
#include "py_index.hpp"

namespace knnx::python {

void bind_metric(nb::module_& m) {
  nb::enum_<Metric>(
      m, "Metric",
      "The distance an index ranks by. L2: squared Euclidean distance, ascending. "
      "INNER_PRODUCT: dot product, descending. Wherever a metric is accepted, the "
      "names \"l2\" and \"ip\" (also \"euclidean\", \"inner_product\", \"dot\") work too.")
      .value("L2", Metric::L2, "Squared Euclidean distance; smaller is closer.")
      .value("INNER_PRODUCT", Metric::InnerProduct, "Dot product; larger is closer.");

  m.def(
      "parse_metric", [](const std::string& name) { return parse_metric(name); }, nb::arg("name"),
      "The Metric a name stands for (\"l2\", \"euclidean\", \"ip\", \"inner_product\", \"dot\"; "
      "any case). Raises ValueError for other names.");
  m.def(
      "_metric", [](const MetricArg& metric) { return metric_arg(metric); }, nb::arg("metric"),
      "The Metric any metric argument stands for: a name, a knnx.Metric, or FAISS's integer\n"
      "code (METRIC_L2 = 1, METRIC_INNER_PRODUCT = 0). ValueError for anything else.");
}

}  // namespace knnx::python
