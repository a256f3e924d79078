// index_file.cpp — saving and loading indexes (knnx::write_index / read_index) and building
// them from descriptions (knnx::index_factory). Both hand back a knnx._IndexHandle; the Python
// layer (knnx/_index_file.py) turns it into an object of the class its kind names. Paths are
// str or os.PathLike; the GIL is released while files are read or written. IoError and
// FormatError are OSErrors (errors.cpp).
#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/variant.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_io.hpp"
#include "path_arg.hpp"
#include "py_index.hpp"

namespace knnx::python {

void bind_index_file(nb::module_& m) {
  m.def(
      "_write_index",
      [](const PyIndex& index, const PathArg& path) {
        const std::string p = path.value;
        index.read([&](const Index& i) { write_index(i, p); });
      },
      nb::arg("index"), nb::arg("path"),
      "Saves index to path (written to a temporary file, then renamed over path).");
  m.def(
      "_read_index",
      [](const PathArg& path, const std::string& device, bool mmap) {
        const std::string p = path.value;
        const Device d = Device::parse(device);
        auto handle = std::make_unique<IndexHandle>();
        {
          nb::gil_scoped_release release;
          handle->index = read_index(p, d, ReadIndexOptions{.mmap = mmap});
        }
        return handle;
      },
      nb::arg("path"), nb::arg("device") = "cpu", nb::arg("mmap") = false,
      "The index saved at path, as a handle; mmap maps host rows from the file (read_index).");
  m.def(
      "_index_factory",
      [](long long d, const std::string& spec, const MetricArg& metric, const std::string& device) {
        auto handle = std::make_unique<IndexHandle>();
        handle->index = index_factory(dim_arg(d), spec, metric_arg(metric), Device::parse(device));
        return handle;
      },
      nb::arg("d"), nb::arg("spec"), nb::arg("metric") = "l2", nb::arg("device") = "cpu",
      "The empty index knnx::index_factory builds for spec, as a handle.");
  m.def(
      "_parse_index_spec",
      [](const std::string& spec) {
        const IndexSpec parsed = parse_index_spec(spec);
        nb::list transforms;
        for (const TransformSpec& t : parsed.transforms) {
          const char* kind = t.kind == TransformSpec::Kind::PCA              ? "PCA"
                             : t.kind == TransformSpec::Kind::OPQ            ? "OPQ"
                             : t.kind == TransformSpec::Kind::RandomRotation ? "RR"
                                                                             : "L2norm";
          transforms.append(nb::make_tuple(kind, t.text, t.d_out, t.m, t.whiten, t.rotate));
        }
        const char* storage =
            parsed.kind == IndexSpec::Kind::PQ || parsed.kind == IndexSpec::Kind::IVFPQ   ? "PQ"
            : parsed.kind == IndexSpec::Kind::SQ || parsed.kind == IndexSpec::Kind::IVFSQ ? "SQ"
                                                                                          : "Flat";
        return nb::make_tuple(transforms, parsed.n_lists, storage, parsed.pq_m, parsed.pq_nbits);
      },
      nb::arg("spec"),
      "knnx::parse_index_spec(spec): ([(kind, text, d_out, m, whiten, rotate) per transform],\n"
      "n_lists (0 without a coarse quantizer), the storage \"Flat\" or \"PQ\", and for PQ its\n"
      "M and nbits (0 for Flat)). InvalidArgument naming the component.");
}

}  // namespace knnx::python
