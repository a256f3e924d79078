// index_sq.cpp — knnx.ScalarQuantizer (encode/decode), knnx.IndexScalarQuantizer and
// knnx.IndexIVFScalarQuantizer. Quantizer types are FAISS's integer codes
// (faiss.ScalarQuantizer.QT_8bit == 0, QT_4bit == 1, QT_fp16 == 4, QT_bf16 == 7), so FAISS
// code passing them works unchanged. Everything else an index does comes from knnx.Index.
#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "kmeans_params.hpp"
#include "knnx/error.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "py_index.hpp"

namespace knnx::python {
namespace {

using Type = ScalarQuantizer::Type;
using Codes2D = nb::ndarray<nb::numpy, std::uint8_t, nb::ndim<2>, nb::c_contig>;

// FAISS's ScalarQuantizer::QuantizerType values.
constexpr long long kFaiss8bit = 0, kFaiss4bit = 1, kFaiss8bitUniform = 2, kFaiss4bitUniform = 3,
                    kFaissFp16 = 4, kFaiss8bitDirect = 5, kFaiss6bit = 6, kFaissBf16 = 7,
                    kFaiss8bitDirectSigned = 8;

Type qtype_arg(long long qtype) {
  switch (qtype) {
    case kFaiss8bit:
      return Type::QT_8bit;
    case kFaiss4bit:
      return Type::QT_4bit;
    case kFaissFp16:
      return Type::QT_fp16;
    case kFaissBf16:
      return Type::QT_bf16;
    case kFaiss8bitUniform:
    case kFaiss4bitUniform:
    case kFaiss8bitDirect:
    case kFaiss6bit:
    case kFaiss8bitDirectSigned:
      throw NotSupported(fmt::format(
          "FAISS's scalar quantizer type {} is not implemented in knnx; knnx has QT_8bit (0), "
          "QT_4bit (1), QT_fp16 (4) and QT_bf16 (7)",
          qtype));
    default:
      throw InvalidArgument(fmt::format(
          "qtype must be a knnx.ScalarQuantizer.QT_* value: QT_8bit (0), QT_4bit (1), QT_fp16 "
          "(4) or QT_bf16 (7), got {}",
          qtype));
  }
}

long long faiss_qtype(Type type) {
  switch (type) {
    case Type::QT_8bit:
      return kFaiss8bit;
    case Type::QT_4bit:
      return kFaiss4bit;
    case Type::QT_fp16:
      return kFaissFp16;
    case Type::QT_bf16:
      return kFaissBf16;
  }
  return -1;
}

void bind_quantizer(nb::module_& m) {
  nb::class_<ScalarQuantizer>(
      m, "ScalarQuantizer",
      "Codes each component of a vector on its own (FAISS's ScalarQuantizer).\n\n"
      "QT_8bit / QT_4bit learn per-component min/max ranges in train() and code each component\n"
      "in 255 / 15 equal bins (decoded to the bin's middle: error <= range / 510 or range / 30\n"
      "inside the trained range); QT_fp16 and QT_bf16 need no training (half precision /\n"
      "bfloat16, rounded to nearest). code_size bytes per vector.")
      .def(
          "__init__",
          [](ScalarQuantizer* self, long long d, long long qtype) {
            new (self) ScalarQuantizer(dim_arg(d), qtype_arg(qtype));
          },
          nb::arg("d"), nb::arg("qtype"))
      .def_ro_static("QT_8bit", &kFaiss8bit)
      .def_ro_static("QT_4bit", &kFaiss4bit)
      .def_ro_static("QT_fp16", &kFaissFp16)
      .def_ro_static("QT_bf16", &kFaissBf16)
      .def_prop_ro("d", &ScalarQuantizer::dim)
      .def_prop_ro("qtype", [](const ScalarQuantizer& sq) { return faiss_qtype(sq.type()); })
      .def_prop_ro("code_size", &ScalarQuantizer::code_size)
      .def_prop_ro("is_trained", &ScalarQuantizer::is_trained)
      .def(
          "train",
          [](ScalarQuantizer& sq, nb::handle x) {
            const Rows<float> rows =
                to_rows<float>(x, ArraySpec{.name = "x", .rank = Rank::kMatrix, .cols = sq.dim()});
            nb::gil_scoped_release release;
            sq.train(rows.rows(), rows.data());
          },
          nb::arg("x"), "Learns the ranges (QT_8bit, QT_4bit) from x (n, d).")
      .def(
          "compute_codes",
          [](const ScalarQuantizer& sq, nb::handle x) {
            const Rows<float> rows =
                to_rows<float>(x, ArraySpec{.name = "x", .rank = Rank::kMatrix, .cols = sq.dim()});
            std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows.rows()) * sq.code_size());
            {
              nb::gil_scoped_release release;
              sq.encode(rows.rows(), rows.data(), codes.data());
            }
            return make_numpy<Codes2D>(std::move(codes),
                                       {static_cast<std::size_t>(rows.rows()), sq.code_size()});
          },
          nb::arg("x"), "The codes of x (n, d): uint8 (n, code_size).")
      .def(
          "decode",
          [](const ScalarQuantizer& sq, nb::handle codes) {
            const Rows<std::uint8_t> rows =
                to_rows<std::uint8_t>(codes, ArraySpec{.name = "codes",
                                                       .rank = Rank::kMatrix,
                                                       .cols = static_cast<idx_t>(sq.code_size()),
                                                       .cols_name = "code_size"});
            std::vector<float> x(static_cast<std::size_t>(rows.rows()) *
                                 static_cast<std::size_t>(sq.dim()));
            {
              nb::gil_scoped_release release;
              sq.decode(rows.rows(), rows.data(), x.data());
            }
            return make_numpy<Matrix2D>(std::move(x), {static_cast<std::size_t>(rows.rows()),
                                                       static_cast<std::size_t>(sq.dim())});
          },
          nb::arg("codes"), "The vectors (n, d) of codes (n, code_size).")
      .def_prop_ro(
          "vmin",
          [](const ScalarQuantizer& sq) {
            std::vector<float> v = sq.vmin();
            const std::size_t n = v.size();
            return make_numpy<Vector1D>(std::move(v), {n});
          },
          nb::rv_policy::move,
          "Per-component range starts (QT_8bit, QT_4bit after training; empty otherwise).")
      .def_prop_ro(
          "vdiff",
          [](const ScalarQuantizer& sq) {
            std::vector<float> v = sq.vdiff();
            const std::size_t n = v.size();
            return make_numpy<Vector1D>(std::move(v), {n});
          },
          nb::rv_policy::move,
          "Per-component range widths (QT_8bit, QT_4bit after training; empty otherwise).");
}

class PyIndexSQ : public PyIndex {
 public:
  using PyIndex::PyIndex;
  const IndexScalarQuantizerBase& sq() const {
    return static_cast<const IndexScalarQuantizerBase&>(fixed());
  }
};

class PyIndexIVFSQ : public PyIndexSQ {
 public:
  using PyIndexSQ::PyIndexSQ;
  const IndexIVFScalarQuantizer& ivf() const {
    return static_cast<const IndexIVFScalarQuantizer&>(fixed());
  }
};

}  // namespace

void bind_index_sq(nb::module_& m) {
  bind_quantizer(m);

  nb::class_<PyIndexSQ, PyIndex>(
      m, "IndexScalarQuantizer",
      "Flat index of ScalarQuantizer codes (FAISS's IndexScalarQuantizer), on the CPU.\n\n"
      "Every search scores all stored codes against the query, decoding as it goes; distances\n"
      "are those to the decoded vectors and reconstruct returns the decoded vector. QT_8bit and\n"
      "QT_4bit need train() first; QT_fp16 and QT_bf16 are trained from the start.")
      .def(
          "__init__",
          [](PyIndexSQ* self, long long d, long long qtype, const MetricArg& metric,
             const std::string& device) {
            new (self) PyIndexSQ(std::make_unique<IndexScalarQuantizer>(
                dim_arg(d), qtype_arg(qtype), metric_arg(metric), Device::parse(device)));
          },
          nb::arg("d"), nb::arg("qtype"), nb::arg("metric") = "l2", nb::arg("device") = "cpu",
          "An index of ScalarQuantizer codes of type qtype (knnx.ScalarQuantizer.QT_8bit, ...)\n"
          "for vectors of dimension d. metric: \"l2\" or \"ip\" (or a knnx.Metric, or FAISS's\n"
          "METRIC_* code). On a CUDA device the codes live in GPU memory and searches run there.")
      .def(
          "__init__",
          [](PyIndexSQ* self, IndexHandle& handle) {
            if (!handle.index || !dynamic_cast<IndexScalarQuantizer*>(handle.index.get())) {
              throw InvalidArgument("the handle does not hold an IndexScalarQuantizer");
            }
            new (self) PyIndexSQ(handle.take());
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).")
      .def_prop_ro(
          "qtype", [](const PyIndexSQ& self) { return faiss_qtype(self.sq().quantizer_type()); },
          "The quantizer type (knnx.ScalarQuantizer.QT_*, FAISS's values).")
      .def_prop_ro(
          "code_size", [](const PyIndexSQ& self) { return self.sq().code_size(); },
          "Bytes stored per vector.")
      .def_prop_ro(
          "sq",
          [](const PyIndexSQ& self) {
            return self.read_as<IndexScalarQuantizerBase>(
                [](const IndexScalarQuantizerBase& index) { return index.quantizer(); });
          },
          "A copy of the trained knnx.ScalarQuantizer (ValueError before training).");

  nb::class_<PyIndexIVFSQ, PyIndexSQ>(
      m, "IndexIVFScalarQuantizer",
      "Inverted lists of ScalarQuantizer codes (FAISS's IndexIVFScalarQuantizer), on the CPU\n"
      "or a CUDA device.\n\n"
      "train() clusters the sample into n_lists centroids (k-means, as IndexIVFFlat), then\n"
      "trains the quantizer on the residuals from them (by_residual, the default, as FAISS) or\n"
      "on the vectors; search scans the codes of the n_probe nearest lists.")
      .def(
          "__init__",
          [](PyIndexIVFSQ* self, long long d, long long n_lists, long long qtype,
             const MetricArg& metric, bool by_residual, const std::string& device) {
            if (n_lists < 1 || n_lists > INT_MAX) {
              throw InvalidArgument(
                  fmt::format("n_lists must be in [1, {}], got {}", INT_MAX, n_lists));
            }
            new (self) PyIndexIVFSQ(std::make_unique<IndexIVFScalarQuantizer>(
                dim_arg(d), static_cast<int>(n_lists), qtype_arg(qtype), metric_arg(metric),
                by_residual, Device::parse(device)));
          },
          nb::arg("d"), nb::arg("n_lists"), nb::arg("qtype"), nb::arg("metric") = "l2",
          nb::arg("by_residual") = true, nb::arg("device") = "cpu",
          "An untrained IVF index of ScalarQuantizer codes of type qtype with n_lists lists.")
      .def(
          "__init__",
          [](PyIndexIVFSQ* self, IndexHandle& handle) {
            if (!handle.index || !dynamic_cast<IndexIVFScalarQuantizer*>(handle.index.get())) {
              throw InvalidArgument("the handle does not hold an IndexIVFScalarQuantizer");
            }
            new (self) PyIndexIVFSQ(handle.take());
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).")
      .def_prop_ro(
          "n_lists", [](const PyIndexIVFSQ& self) { return self.ivf().n_lists(); },
          "Number of inverted lists (centroids).")
      .def_prop_ro(
          "by_residual", [](const PyIndexIVFSQ& self) { return self.ivf().by_residual(); },
          "Whether the codes are of residuals from the list centroids.")
      .def_prop_rw(
          "n_probe",
          [](const PyIndexIVFSQ& self) {
            return self.read_as<IndexIVFScalarQuantizer>(
                [](const IndexIVFScalarQuantizer& ivf) { return ivf.n_probe(); });
          },
          [](PyIndexIVFSQ& self, long long n_probe) {
            if (n_probe < 1) {
              throw InvalidArgument(fmt::format("n_probe must be >= 1, got {}", n_probe));
            }
            const int p = n_probe > INT_MAX ? INT_MAX : static_cast<int>(n_probe);
            self.write_as<IndexIVFScalarQuantizer>(
                [p](IndexIVFScalarQuantizer& ivf) { ivf.set_n_probe(p); });
          },
          "Lists scanned per query (1 by default); values above n_lists are clamped.")
      .def_prop_rw(
          "kmeans_params",
          [](const PyIndexIVFSQ& self) {
            const KMeansParams p = self.read_as<IndexIVFScalarQuantizer>(
                [](const IndexIVFScalarQuantizer& ivf) { return ivf.kmeans_params(); });
            return from_cpp(p, nb::none());
          },
          [](PyIndexIVFSQ& self, const PyKMeansParams& params) {
            if (!params.progress.is_none()) {
              throw NotSupported("IndexIVFScalarQuantizer takes no k-means progress callback");
            }
            const KMeansParams p = params.to_cpp();
            self.write_as<IndexIVFScalarQuantizer>(
                [&](IndexIVFScalarQuantizer& ivf) { ivf.set_kmeans_params(p); });
          },
          "A copy of the knnx.KMeansParams train() uses; assign a modified copy to change them.")
      .def(
          "centroids",
          [](const PyIndexIVFSQ& self) {
            std::vector<float> c = self.read_as<IndexIVFScalarQuantizer>(
                [](const IndexIVFScalarQuantizer& ivf) { return ivf.centroids(); });
            return make_numpy<Matrix2D>(std::move(c),
                                        {static_cast<std::size_t>(self.ivf().n_lists()),
                                         static_cast<std::size_t>(self.fixed().dim())});
          },
          "A copy of the centroids, float32 (n_lists, d); zeros before training.")
      .def(
          "list_sizes",
          [](const PyIndexIVFSQ& self) {
            std::vector<idx_t> s = self.read_as<IndexIVFScalarQuantizer>(
                [](const IndexIVFScalarQuantizer& ivf) { return ivf.list_sizes(); });
            const std::size_t n = s.size();
            return make_numpy<Ids1D>(std::move(s), {n});
          },
          "Vectors per inverted list, int64 (n_lists,).")
      .def(
          "list_ids",
          [](const PyIndexIVFSQ& self, long long list) {
            if (list < 0 || list >= self.ivf().n_lists()) {
              throw InvalidArgument(
                  fmt::format("list must be in [0, {}), got {}", self.ivf().n_lists(), list));
            }
            std::vector<idx_t> ids =
                self.read_as<IndexIVFScalarQuantizer>([&](const IndexIVFScalarQuantizer& ivf) {
                  return ivf.list_ids(static_cast<int>(list));
                });
            const std::size_t n = ids.size();
            return make_numpy<Ids1D>(std::move(ids), {n});
          },
          nb::arg("list"), "The ids of one list in insertion order, int64 (size,).");
}

}  // namespace knnx::python
