// index_pq.cpp — knnx.ProductQuantizer, knnx.IndexPQ and knnx.IndexIVFPQ, and their fast-scan
// kinds knnx.IndexPQFastScan and knnx.IndexIVFPQFastScan: the codec and the product-quantizer
// indexes' own settings and storage. Train, add, search, ids and the
// raw-pointer methods come from knnx.Index (index.cpp).
#include "knnx/index_pq.hpp"

#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "kmeans_params.hpp"
#include "knnx/error.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq_fast_scan.hpp"
#include "knnx/product_quantizer.hpp"
#include "py_index.hpp"

namespace knnx::python {
namespace {

using Codes2D = nb::ndarray<nb::numpy, std::uint8_t, nb::ndim<2>, nb::c_contig>;
using Matrix3D = nb::ndarray<nb::numpy, float, nb::ndim<3>, nb::c_contig>;

int int_arg(long long v, const char* name) {
  if (v < INT_MIN || v > INT_MAX) {
    throw InvalidArgument(fmt::format("{} must fit a 32-bit int, got {}", name, v));
  }
  return static_cast<int>(v);
}

// The M x ksub x dsub codebooks (zeros before training).
Matrix3D codebooks(const ProductQuantizer& pq) {
  std::vector<float> c = pq.centroids();
  c.resize(static_cast<std::size_t>(pq.M()) * pq.ksub() * pq.dsub(), 0.0f);
  return make_numpy<Matrix3D>(
      std::move(c), {static_cast<std::size_t>(pq.M()), static_cast<std::size_t>(pq.ksub()),
                     static_cast<std::size_t>(pq.dsub())});
}

Rows<float> pq_rows(const ProductQuantizer& pq, ArrayLike x, const char* name) {
  return to_rows<float>(x, ArraySpec{.name = name, .rank = Rank::kMatrixOrVector, .cols = pq.d()});
}

class PyIndexPQ : public PyIndex {
 public:
  PyIndexPQ(int d, int m, int nbits, Metric metric, Device device)
      : PyIndex(std::make_unique<IndexPQ>(d, m, nbits, metric, device)) {}
  explicit PyIndexPQ(std::unique_ptr<Index> index) : PyIndex(std::move(index)) {}
};

class PyIndexIVFPQ : public PyIndex {
 public:
  PyIndexIVFPQ(int d, int n_lists, int m, int nbits, Metric metric, Device device)
      : PyIndex(std::make_unique<IndexIVFPQ>(d, n_lists, m, nbits, metric, device)) {}
  explicit PyIndexIVFPQ(std::unique_ptr<Index> index) : PyIndex(std::move(index)) {}
  const IndexIVFPQ& ivf() const { return static_cast<const IndexIVFPQ&>(fixed()); }
};

// The fast-scan kinds: the same Python surface over 4-bit codes.
class PyIndexPQFastScan : public PyIndexPQ {
 public:
  PyIndexPQFastScan(int d, int m, Metric metric, Device device)
      : PyIndexPQ(std::unique_ptr<Index>(std::make_unique<IndexPQFastScan>(d, m, metric, device))) {
  }
  explicit PyIndexPQFastScan(std::unique_ptr<Index> index) : PyIndexPQ(std::move(index)) {}
};

class PyIndexIVFPQFastScan : public PyIndexIVFPQ {
 public:
  PyIndexIVFPQFastScan(int d, int n_lists, int m, Metric metric, Device device, bool by_residual)
      : PyIndexIVFPQ(std::unique_ptr<Index>(
            std::make_unique<IndexIVFPQFastScan>(d, n_lists, m, metric, device, by_residual))) {}
  explicit PyIndexIVFPQFastScan(std::unique_ptr<Index> index) : PyIndexIVFPQ(std::move(index)) {}
};

int n_lists_arg(long long n_lists) {
  if (n_lists < 1 || n_lists > INT_MAX) {
    throw InvalidArgument(fmt::format("n_lists must be in [1, {}], got {}", INT_MAX, n_lists));
  }
  return static_cast<int>(n_lists);
}

// The fast-scan indexes hold 4-bit codes; FAISS's bbs (codes a block) is 32 in knnx's layout.
void check_fast_scan_args(long long nbits, long long bbs) {
  if (nbits != 4) {
    throw InvalidArgument(fmt::format(
        "the fast-scan indexes hold 4-bit codes: nbits must be 4, got nbits = {}", nbits));
  }
  if (bbs != 32) {
    throw InvalidArgument(
        fmt::format("knnx's fast-scan layout packs 32 codes a block: bbs must be 32, got {}", bbs));
  }
}

template <typename Cpp, typename T>
void take_handle(T* self, IndexHandle& handle, const char* kind) {
  if (!handle.index || !dynamic_cast<Cpp*>(handle.index.get())) {
    throw InvalidArgument(fmt::format("the handle does not hold an {}", kind));
  }
  new (self) T(handle.take());
}

int list_arg(const PyIndexIVFPQ& self, long long list) {
  const int n_lists = self.ivf().n_lists();
  if (list < 0 || list >= n_lists) {
    throw InvalidArgument(fmt::format("list must be in [0, {}), got {}", n_lists, list));
  }
  return static_cast<int>(list);
}

}  // namespace

void bind_index_pq(nb::module_& m) {
  nb::class_<ProductQuantizerParams>(
      m, "ProductQuantizerParams",
      "How a ProductQuantizer trains: k-means iterations per sub-space (kmeans_iter, 25 as\n"
      "FAISS), training rows per centroid at most (max_points_per_centroid, 256) and the seed.")
      .def(nb::init<>())
      .def_rw("kmeans_iter", &ProductQuantizerParams::kmeans_iter)
      .def_rw("max_points_per_centroid", &ProductQuantizerParams::max_points_per_centroid)
      .def_rw("seed", &ProductQuantizerParams::seed);

  nb::class_<ProductQuantizer>(
      m, "ProductQuantizer",
      "Product quantizer (FAISS's ProductQuantizer): d dims cut into M sub-vectors of dsub = d/M\n"
      "dims, each coded by the nearest of ksub = 2^nbits centroids of its sub-space (k-means\n"
      "codebooks). Codes are M bytes (nbits = 8 only). Arrays are numpy, float32 vectors (n, d)\n"
      "and uint8 codes (n, M).")
      .def(
          "__init__",
          [](ProductQuantizer* self, long long d, long long m, long long nbits,
             const ProductQuantizerParams& params) {
            new (self)
                ProductQuantizer(dim_arg(d), int_arg(m, "M"), int_arg(nbits, "nbits"), params);
          },
          nb::arg("d"), nb::arg("M"), nb::arg("nbits") = 8,
          nb::arg("params") = ProductQuantizerParams{},
          "An untrained quantizer. ValueError when M does not divide d or nbits is not 8.")
      .def_prop_ro("d", &ProductQuantizer::d)
      .def_prop_ro("M", &ProductQuantizer::M)
      .def_prop_ro("nbits", &ProductQuantizer::nbits)
      .def_prop_ro("dsub", &ProductQuantizer::dsub)
      .def_prop_ro("ksub", &ProductQuantizer::ksub)
      .def_prop_ro("code_size", &ProductQuantizer::code_size)
      .def_prop_ro("is_trained", &ProductQuantizer::is_trained)
      .def_prop_ro(
          "params", [](const ProductQuantizer& pq) { return pq.params(); },
          "A copy of the training settings.")
      .def_prop_ro("centroids", &codebooks, nb::rv_policy::move,
                   "A copy of the codebooks, float32 (M, ksub, dsub); zeros before training.")
      .def(
          "train",
          [](ProductQuantizer& pq, ArrayLike x) {
            const Rows<float> rows = pq_rows(pq, x, "x");
            nb::gil_scoped_release release;
            pq.train(rows.rows(), rows.data());
          },
          nb::arg("x"), "Trains the M codebooks on x (n, d), n >= ksub.")
      .def(
          "compute_codes",
          [](const ProductQuantizer& pq, ArrayLike x) {
            const Rows<float> rows = pq_rows(pq, x, "x");
            std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows.rows()) *
                                            static_cast<std::size_t>(pq.code_size()));
            {
              nb::gil_scoped_release release;
              pq.encode(rows.rows(), rows.data(), codes.data());
            }
            return make_numpy<Codes2D>(
                std::move(codes),
                {static_cast<std::size_t>(rows.rows()), static_cast<std::size_t>(pq.code_size())});
          },
          nb::arg("x"),
          "The codes of x (n, d), uint8 (n, code_size): M bytes, or M / 2 for 4-bit codes.")
      .def(
          "decode",
          [](const ProductQuantizer& pq, ArrayLike codes) {
            const Rows<std::uint8_t> c =
                to_rows<std::uint8_t>(codes, ArraySpec{.name = "codes",
                                                       .rank = Rank::kMatrixOrVector,
                                                       .cols = pq.code_size(),
                                                       .cols_name = "code_size"});
            std::vector<float> x(static_cast<std::size_t>(c.rows()) * pq.d());
            {
              nb::gil_scoped_release release;
              pq.decode(c.rows(), c.data(), x.data());
            }
            return make_numpy<Matrix2D>(std::move(x), {static_cast<std::size_t>(c.rows()),
                                                       static_cast<std::size_t>(pq.d())});
          },
          nb::arg("codes"), "The reconstructions of codes (n, code_size), float32 (n, d).")
      .def(
          "compute_distance_tables",
          [](const ProductQuantizer& pq, ArrayLike x, const MetricArg& metric) {
            const Rows<float> rows = pq_rows(pq, x, "x");
            const Metric mt = metric_arg(metric);
            std::vector<float> t(static_cast<std::size_t>(rows.rows()) * pq.M() * pq.ksub());
            {
              nb::gil_scoped_release release;
              pq.compute_distance_tables(rows.rows(), rows.data(), mt, t.data());
            }
            return make_numpy<Matrix3D>(std::move(t), {static_cast<std::size_t>(rows.rows()),
                                                       static_cast<std::size_t>(pq.M()),
                                                       static_cast<std::size_t>(pq.ksub())});
          },
          nb::arg("x"), nb::arg("metric") = "l2",
          "Lookup tables of the queries x (n, d), float32 (n, M, ksub): squared L2 distances\n"
          "(or inner products) between each sub-vector and its sub-space's centroids.");

  nb::class_<PyIndexPQ, PyIndex>(
      m, "IndexPQ",
      "Vectors stored as product-quantizer codes (FAISS's IndexPQ): train() learns the\n"
      "codebooks, add() stores M bytes a vector, search() compares each query with every code\n"
      "through lookup tables (distances to the codes' reconstructions). reconstruct() returns\n"
      "the decoded vector. On device='cuda' the codes live and are scanned on the GPU\n"
      "(encoding stays on the host); CUDA arrays are accepted as for IndexFlat.")
      .def(
          "__init__",
          [](PyIndexPQ* self, long long d, long long m, long long nbits, const MetricArg& metric,
             const std::string& device) {
            new (self) PyIndexPQ(dim_arg(d), int_arg(m, "M"), int_arg(nbits, "nbits"),
                                 metric_arg(metric), Device::parse(device));
          },
          nb::arg("d"), nb::arg("M"), nb::arg("nbits") = 8, nb::arg("metric") = "l2",
          nb::arg("device") = "cpu",
          "An untrained index of d-dimensional vectors coded by M sub-quantizers of nbits (8).")
      .def(
          "__init__",
          [](PyIndexPQ* self, IndexHandle& handle) {
            take_handle<IndexPQ>(self, handle, "IndexPQ");
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).")
      .def_prop_ro(
          "pq",
          [](const PyIndexPQ& self) {
            return self.read_as<IndexPQ>([](const IndexPQ& i) { return i.pq(); });
          },
          nb::rv_policy::move, "A copy of the index's ProductQuantizer.")
      .def(
          "set_pq_params",
          [](PyIndexPQ& self, const ProductQuantizerParams& p) {
            self.write_as<IndexPQ>([&](IndexPQ& i) { i.set_pq_params(p); });
          },
          nb::arg("params"), "The quantizer's training settings (only while the index is empty).")
      .def(
          "codes",
          [](const PyIndexPQ& self) {
            std::size_t m = 0;
            std::vector<std::uint8_t> c = self.read_as<IndexPQ>([&](const IndexPQ& i) {
              m = static_cast<std::size_t>(i.pq().code_size());
              return i.codes();
            });
            const std::size_t n = c.size() / m;
            return make_numpy<Codes2D>(std::move(c), {n, m});
          },
          "A copy of the stored codes in row order, uint8 (ntotal, M).");

  nb::class_<PyIndexIVFPQ, PyIndex>(
      m, "IndexIVFPQ",
      "Inverted-file index of product-quantizer codes of residuals (FAISS's IndexIVFPQ):\n"
      "train() runs k-means for n_lists centroids, then trains the quantizer on the residuals;\n"
      "add() stores each vector's residual code in its nearest centroid's list; search() scans\n"
      "the n_probe nearest lists with lookup tables. On device='cuda' the lists live and are\n"
      "scanned on the GPU (encoding stays on the host); CUDA arrays are accepted as for\n"
      "IndexFlat.")
      .def(
          "__init__",
          [](PyIndexIVFPQ* self, long long d, long long n_lists, long long m, long long nbits,
             const MetricArg& metric, const std::string& device) {
            if (n_lists < 1 || n_lists > INT_MAX) {
              throw InvalidArgument(
                  fmt::format("n_lists must be in [1, {}], got {}", INT_MAX, n_lists));
            }
            new (self)
                PyIndexIVFPQ(dim_arg(d), static_cast<int>(n_lists), int_arg(m, "M"),
                             int_arg(nbits, "nbits"), metric_arg(metric), Device::parse(device));
          },
          nb::arg("d"), nb::arg("n_lists"), nb::arg("M"), nb::arg("nbits") = 8,
          nb::arg("metric") = "l2", nb::arg("device") = "cpu",
          "An untrained index with n_lists lists of codes by M sub-quantizers of nbits (8).")
      .def(
          "__init__",
          [](PyIndexIVFPQ* self, IndexHandle& handle) {
            take_handle<IndexIVFPQ>(self, handle, "IndexIVFPQ");
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).")
      .def_prop_ro(
          "n_lists", [](const PyIndexIVFPQ& self) { return self.ivf().n_lists(); },
          "Number of inverted lists.")
      .def_prop_ro(
          "by_residual", [](const PyIndexIVFPQ& self) { return self.ivf().by_residual(); },
          "Whether codes encode x minus its list's centroid (always for IndexIVFPQ; an\n"
          "IndexIVFPQFastScan may code the vectors themselves).")
      .def_prop_rw(
          "n_probe",
          [](const PyIndexIVFPQ& self) {
            return self.read_as<IndexIVFPQ>([](const IndexIVFPQ& i) { return i.n_probe(); });
          },
          [](PyIndexIVFPQ& self, long long n_probe) {
            if (n_probe < 1) {
              throw InvalidArgument(fmt::format("n_probe must be >= 1, got {}", n_probe));
            }
            const int p = n_probe > INT_MAX ? INT_MAX : static_cast<int>(n_probe);
            self.write_as<IndexIVFPQ>([p](IndexIVFPQ& i) { i.set_n_probe(p); });
          },
          "Lists scanned per query (1 by default); values above n_lists are clamped.")
      .def_prop_rw(
          "use_precomputed_table",
          [](const PyIndexIVFPQ& self) {
            return self.read_as<IndexIVFPQ>(
                [](const IndexIVFPQ& i) { return i.use_precomputed_table(); });
          },
          [](PyIndexIVFPQ& self, bool use) {
            self.write_as<IndexIVFPQ>([use](IndexIVFPQ& i) { i.set_use_precomputed_table(use); });
          },
          "L2: add a per-list table precomputed at training to each query's tables (True by\n"
          "default; built when it fits 1 GiB). precomputed_table_in_use says whether one is.")
      .def_prop_ro("precomputed_table_in_use",
                   [](const PyIndexIVFPQ& self) {
                     return self.read_as<IndexIVFPQ>(
                         [](const IndexIVFPQ& i) { return i.precomputed_table_in_use(); });
                   })
      .def_prop_ro(
          "pq",
          [](const PyIndexIVFPQ& self) {
            return self.read_as<IndexIVFPQ>([](const IndexIVFPQ& i) { return i.pq(); });
          },
          nb::rv_policy::move, "A copy of the index's ProductQuantizer.")
      .def(
          "set_pq_params",
          [](PyIndexIVFPQ& self, const ProductQuantizerParams& p) {
            self.write_as<IndexIVFPQ>([&](IndexIVFPQ& i) { i.set_pq_params(p); });
          },
          nb::arg("params"), "The quantizer's training settings (only while the index is empty).")
      .def_prop_rw(
          "kmeans_params",
          [](const PyIndexIVFPQ& self) {
            return from_cpp(
                self.read_as<IndexIVFPQ>([](const IndexIVFPQ& i) { return i.kmeans_params(); }),
                nb::none());
          },
          [](PyIndexIVFPQ& self, const PyKMeansParams& params) {
            KMeansParams p = params.to_cpp();
            p.progress = nullptr;  // the index keeps no Python callable
            self.write_as<IndexIVFPQ>([&](IndexIVFPQ& i) { i.set_kmeans_params(p); });
          },
          "A copy of the coarse k-means settings (n_iter = 10 by default); assign a modified\n"
          "copy to change them.")
      .def(
          "centroids",
          [](const PyIndexIVFPQ& self) {
            std::vector<float> c =
                self.read_as<IndexIVFPQ>([](const IndexIVFPQ& i) { return i.centroids(); });
            return make_numpy<Matrix2D>(std::move(c),
                                        {static_cast<std::size_t>(self.ivf().n_lists()),
                                         static_cast<std::size_t>(self.fixed().dim())});
          },
          "A copy of the coarse centroids, float32 (n_lists, d); zeros before training.")
      .def(
          "list_sizes",
          [](const PyIndexIVFPQ& self) {
            std::vector<idx_t> s =
                self.read_as<IndexIVFPQ>([](const IndexIVFPQ& i) { return i.list_sizes(); });
            const std::size_t n = s.size();
            return make_numpy<Ids1D>(std::move(s), {n});
          },
          "Vectors per inverted list, int64 (n_lists,).")
      .def(
          "list_ids",
          [](const PyIndexIVFPQ& self, long long list_in) {
            const int list = list_arg(self, list_in);
            std::vector<idx_t> ids =
                self.read_as<IndexIVFPQ>([&](const IndexIVFPQ& i) { return i.list_ids(list); });
            const std::size_t n = ids.size();
            return make_numpy<Ids1D>(std::move(ids), {n});
          },
          nb::arg("list"), "The ids of one list in insertion order, int64 (size,).")
      .def(
          "list_codes",
          [](const PyIndexIVFPQ& self, long long list_in) {
            const int list = list_arg(self, list_in);
            std::size_t m = 0;
            std::vector<std::uint8_t> c = self.read_as<IndexIVFPQ>([&](const IndexIVFPQ& i) {
              m = static_cast<std::size_t>(i.pq().code_size());
              return i.list_codes(list);
            });
            const std::size_t n = c.size() / m;
            return make_numpy<Codes2D>(std::move(c), {n, m});
          },
          nb::arg("list"), "The codes of one list in insertion order, uint8 (size, M).");

  nb::class_<PyIndexPQFastScan, PyIndexPQ>(
      m, "IndexPQFastScan",
      "IndexPQ of 4-bit codes searched by SIMD fast scan (FAISS's IndexPQFastScan): M / 2\n"
      "bytes a vector (M even), lookup tables quantized to 8 bits; distances are those of the\n"
      "quantized tables, as FAISS returns. codes() are (ntotal, M / 2), two codes a byte.")
      .def(
          "__init__",
          [](PyIndexPQFastScan* self, long long d, long long m, long long nbits,
             const MetricArg& metric, long long bbs, const std::string& device) {
            check_fast_scan_args(nbits, bbs);
            new (self) PyIndexPQFastScan(dim_arg(d), int_arg(m, "M"), metric_arg(metric),
                                         Device::parse(device));
          },
          nb::arg("d"), nb::arg("M"), nb::arg("nbits") = 4, nb::arg("metric") = "l2",
          nb::arg("bbs") = 32, nb::arg("device") = "cpu",
          "An untrained index of d-dimensional vectors coded by M 4-bit sub-quantizers.")
      .def(
          "__init__",
          [](PyIndexPQFastScan* self, IndexHandle& handle) {
            take_handle<IndexPQFastScan>(self, handle, "IndexPQFastScan");
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).");

  nb::class_<PyIndexIVFPQFastScan, PyIndexIVFPQ>(
      m, "IndexIVFPQFastScan",
      "IndexIVFPQ of 4-bit codes searched by SIMD fast scan (FAISS's IndexIVFPQFastScan): each\n"
      "probed list's lookup tables quantized to 8 bits; distances are those of the quantized\n"
      "tables, as FAISS returns. list_codes() are (size, M / 2), two codes a byte.")
      .def(
          "__init__",
          [](PyIndexIVFPQFastScan* self, long long d, long long n_lists, long long m,
             long long nbits, const MetricArg& metric, long long bbs, const std::string& device,
             bool by_residual) {
            check_fast_scan_args(nbits, bbs);
            new (self) PyIndexIVFPQFastScan(dim_arg(d), n_lists_arg(n_lists), int_arg(m, "M"),
                                            metric_arg(metric), Device::parse(device), by_residual);
          },
          nb::arg("d"), nb::arg("n_lists"), nb::arg("M"), nb::arg("nbits") = 4,
          nb::arg("metric") = "l2", nb::arg("bbs") = 32, nb::arg("device") = "cpu",
          nb::arg("by_residual") = true,
          "An untrained index with n_lists lists of codes by M 4-bit sub-quantizers, of\n"
          "residuals (by_residual, FAISS's default for the class) or of the vectors themselves\n"
          "(FAISS's factory string \"IVF<n>,PQ<M>x4fs\"; \"x4fsr\" codes residuals).")
      .def(
          "__init__",
          [](PyIndexIVFPQFastScan* self, IndexHandle& handle) {
            take_handle<IndexIVFPQFastScan>(self, handle, "IndexIVFPQFastScan");
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).");
}

}  // namespace knnx::python
