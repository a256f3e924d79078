// index.cpp — knnx.Index (the common interface), knnx.IndexFlat, and the argument helpers of
// py_index.hpp.
//
// Each bound index is a PyIndex (py_index.hpp): its C++ index and a reader/writer lock. Every
// call that does real work converts its arguments first, then releases the GIL before taking
// the lock, so no thread ever waits for the lock while holding the GIL.
#include "knnx/index.hpp"

#include <fmt/format.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <variant>

#include "arrays.hpp"
#include "bindings.hpp"
#include "device_memory.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/index_pq_fast_scan.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/transform.hpp"
#include "py_index.hpp"

namespace knnx::python {

Metric metric_arg(const MetricArg& metric) {
  if (const auto* name = std::get_if<std::string>(&metric)) return parse_metric(*name);
  if (const auto* code = std::get_if<long long>(&metric)) {
    if (*code == kFaissMetricL2) return Metric::L2;
    if (*code == kFaissMetricInnerProduct) return Metric::InnerProduct;
    throw InvalidArgument(fmt::format(
        "metric must be METRIC_L2 ({}) or METRIC_INNER_PRODUCT ({}) as an integer, got {}",
        kFaissMetricL2, kFaissMetricInnerProduct, *code));
  }
  return std::get<Metric>(metric);
}

int faiss_metric_code(Metric metric) {
  return metric == Metric::L2 ? kFaissMetricL2 : kFaissMetricInnerProduct;
}

int dim_arg(long long d, const char* name) {
  if (d < 1 || d > kMaxDim) {
    throw InvalidArgument(fmt::format("{} must be in [1, {}], got {}", name, kMaxDim, d));
  }
  return static_cast<int>(d);
}

int k_arg(long long k) {
  if (k < 1 || k > kMaxK)
    throw InvalidArgument(fmt::format(
        "k must be in [1, {}], got {} (the limit bounds the results' memory: 12 bytes a "
        "neighbour per query)",
        kMaxK, k));
  return static_cast<int>(k);
}

Rows<float> vectors_arg(const PyIndex& self, ArrayLike x, const char* name) {
  return to_rows<float>(
      x, ArraySpec{.name = name, .rank = Rank::kMatrixOrVector, .cols = self.fixed().dim()});
}

void PyIndex::check_not_reentered() const {
  if (writer_ == std::this_thread::get_id()) {
    throw InvalidArgument(
        "the index cannot be changed from a callback of a train or add in progress on it "
        "(reading it, e.g. ntotal, is allowed)");
  }
}

void PyIndex::check_present() const {
  if (!index_) {
    throw InvalidArgument(
        "this index was moved into an IndexPreTransform (or a read_index/index_factory result "
        "was taken twice); use the index it was moved into");
  }
}

std::unique_ptr<Index> IndexHandle::take() {
  if (!index) throw InvalidArgument("this index handle was already taken");
  return std::move(index);
}

const char* index_kind(const Index& index) {
  if (dynamic_cast<const IndexFlat*>(&index)) return "Flat";
  if (dynamic_cast<const IndexIVFFlat*>(&index)) return "IVFFlat";
  if (dynamic_cast<const IndexIVFScalarQuantizer*>(&index)) return "IVFScalarQuantizer";
  if (dynamic_cast<const IndexScalarQuantizer*>(&index)) return "ScalarQuantizer";
  if (dynamic_cast<const IndexRefineFlat*>(&index)) return "RefineFlat";
  if (dynamic_cast<const IndexPQFastScan*>(&index)) return "PQFastScan";
  if (dynamic_cast<const IndexIVFPQFastScan*>(&index)) return "IVFPQFastScan";
  if (dynamic_cast<const IndexPQ*>(&index)) return "PQ";
  if (dynamic_cast<const IndexIVFPQ*>(&index)) return "IVFPQ";
  if (dynamic_cast<const IndexPreTransform*>(&index)) return "PreTransform";
  return "Index";
}

namespace {

class PyIndexFlat : public PyIndex {
 public:
  PyIndexFlat(int d, Metric metric, Device device)
      : PyIndex(std::make_unique<IndexFlat>(d, metric, device)) {}
  explicit PyIndexFlat(std::unique_ptr<Index> index) : PyIndex(std::move(index)) {}
};

using PrecisionArg = std::variant<FlatPrecision, std::string>;

FlatPrecision precision_arg(const PrecisionArg& precision) {
  if (const auto* p = std::get_if<FlatPrecision>(&precision)) return *p;
  const std::string& name = std::get<std::string>(precision);
  if (name == "exact") return FlatPrecision::Exact;
  if (name == "fast") return FlatPrecision::Fast;
  throw InvalidArgument(fmt::format(
      "precision must be \"exact\" or \"fast\" (or a knnx.FlatPrecision), got \"{}\"", name));
}

std::pair<Matrix2D, Labels2D> search(const PyIndex& self, ArrayLike queries, long long k_in,
                                     const SearchParams* params_in) {
  const int k = k_arg(k_in);
  const std::unique_ptr<SearchParams> params = copy_search_params(params_in);
  const Rows<float> q = vectors_arg(self, queries, "queries");
  const std::size_t count = static_cast<std::size_t>(q.rows()) * static_cast<std::size_t>(k);
  std::unique_ptr<float[]> distances(new float[count]);
  std::unique_ptr<idx_t[]> labels(new idx_t[count]);
  self.read([&](const Index& index) {
    index.search(q.rows(), q.data(), k, distances.get(), labels.get(), params.get());
  });
  const std::size_t nq = static_cast<std::size_t>(q.rows());
  const std::size_t kk = static_cast<std::size_t>(k);
  return {make_numpy<Matrix2D>(std::move(distances), {nq, kk}),
          make_numpy<Labels2D>(std::move(labels), {nq, kk})};
}

// --- Raw device pointers -------------------------------------------------------------------
// The Python layer (knnx/_gpu_arrays.py) reads PyTorch, CuPy, __cuda_array_interface__ and
// DLPack arrays in place and passes their addresses here, with the extents it has checked. These
// methods check what can be checked of a bare address: that the index is on a CUDA device and
// that each address is memory of that device (or, where allowed, host memory).

const char* memory_text(int where) { return where < 0 ? "host memory" : "device memory"; }

Device cuda_device_of(const PyIndex& self, const char* method) {
  const Device device = self.fixed().device();
  if (!device.is_cuda()) {
    throw InvalidArgument(
        fmt::format("{} takes device pointers, which need an index on a CUDA "
                    "device; this index is on {}",
                    method, device.to_string()));
  }
  return device;
}

// Where `address` lives: -1 (host) when allow_host, else the index's device ordinal.
int check_address(std::uintptr_t address, const char* name, const Device& device, bool allow_host) {
  if (address == 0) throw InvalidArgument(fmt::format("{} must not be a null pointer", name));
  const int where = pointer_device(address);
  if (where < 0 && !allow_host) {
    throw InvalidArgument(fmt::format("{} ({:#x}) is not CUDA device memory", name, address));
  }
  if (where >= 0 && where != device.ordinal) {
    throw InvalidArgument(fmt::format("{} is memory of cuda:{} but the index is on {}", name, where,
                                      device.to_string()));
  }
  return where;
}

idx_t count_arg(long long n, const char* name) {
  if (n < 1) throw InvalidArgument(fmt::format("{} must be >= 1, got {}", name, n));
  return static_cast<idx_t>(n);
}

void search_ptr(const PyIndex& self, long long nq_in, std::uintptr_t queries, long long k_in,
                std::uintptr_t distances, std::uintptr_t labels, const SearchParams* params_in) {
  const std::unique_ptr<SearchParams> params = copy_search_params(params_in);
  const Device device = cuda_device_of(self, "_search_ptr");
  const idx_t nq = count_arg(nq_in, "nq");
  const int k = k_arg(k_in);
  check_address(queries, "queries", device, /*allow_host=*/true);
  const int d_where = check_address(distances, "distances", device, /*allow_host=*/true);
  const int l_where = check_address(labels, "labels", device, /*allow_host=*/true);
  if ((d_where < 0) != (l_where < 0)) {
    throw InvalidArgument(
        fmt::format("distances ({}) and labels ({}) must both be host memory "
                    "or both be device memory",
                    memory_text(d_where), memory_text(l_where)));
  }
  self.read([&](const Index& index) {
    index.search(nq, reinterpret_cast<const float*>(queries), k,
                 reinterpret_cast<float*>(distances), reinterpret_cast<idx_t*>(labels),
                 params.get());
  });
}

// AddOptions of a chunked add: progress (None or a callable, kept alive by the caller for the
// call) is called as progress(added, n) with the GIL after every chunk.
AddOptions add_options(long long chunk_size, nb::handle progress) {
  if (chunk_size < 0) {
    throw InvalidArgument(fmt::format("chunk_size must be >= 0, got {}", chunk_size));
  }
  AddOptions options{.chunk_size = static_cast<idx_t>(chunk_size)};
  if (progress.is_valid() && !progress.is_none()) {
    options.progress = [callback = progress.ptr()](idx_t added, idx_t n) {
      nb::gil_scoped_acquire gil;
      const nb::handle fn(callback);
      fn(added, n);
    };
  }
  return options;
}

// Adds n rows at x with sequential ids (ids None) or the given ones, under one writer lock.
void add_rows(PyIndex& self, idx_t n, const float* x, nb::handle ids, const AddOptions& options) {
  if (ids.is_none()) {
    self.write([&](Index& index) { index.add(n, x, options); });
    return;
  }
  const Rows<idx_t> id = to_rows<idx_t>(ids, ArraySpec{.name = "ids", .rank = Rank::kVector});
  if (id.rows() != n) {
    throw InvalidArgument(
        fmt::format("ids has {} entries but x has {} vectors; they must match", id.rows(), n));
  }
  self.write([&](Index& index) { index.add_with_ids(n, x, id.data(), options); });
}

void add_ptr(PyIndex& self, long long n_in, std::uintptr_t x, nb::handle ids, long long chunk_size,
             nb::handle progress) {
  const Device device = cuda_device_of(self, "_add_ptr");
  const idx_t n = count_arg(n_in, "n");
  check_address(x, "x", device, /*allow_host=*/false);
  add_rows(self, n, reinterpret_cast<const float*>(x), ids, add_options(chunk_size, progress));
}

void add_chunked(PyIndex& self, ArrayLike x, nb::handle ids, long long chunk_size,
                 nb::handle progress) {
  const AddOptions options = add_options(chunk_size, progress);
  const Rows<float> v = vectors_arg(self, x, "x");
  add_rows(self, v.rows(), v.data(), ids, options);
}

void train_ptr(PyIndex& self, long long n_in, std::uintptr_t x) {
  const Device device = cuda_device_of(self, "_train_ptr");
  const idx_t n = count_arg(n_in, "n");
  check_address(x, "x", device, /*allow_host=*/false);
  self.write([&](Index& index) { index.train(n, reinterpret_cast<const float*>(x)); });
}

// x read as the index reads vectors, as a C-contiguous float32 numpy array (n, d): the caller's
// array itself (reshaped) when it already is one, else the converted copy.
nb::object float32_rows(const PyIndex& self, ArrayLike x, const std::string& name) {
  const Rows<float> v = vectors_arg(self, x, name.c_str());
  const auto rows = static_cast<std::size_t>(v.rows());
  const auto cols = static_cast<std::size_t>(v.cols());
  if (v.is_view()) return v.source().attr("reshape")(rows, cols);
  std::vector<float> copy(v.data(), v.data() + v.size());
  return nb::cast(make_numpy<Matrix2D>(std::move(copy), {rows, cols}));
}

void add_with_ids(PyIndex& self, ArrayLike x, ArrayLike ids) {
  const Rows<float> v = vectors_arg(self, x, "x");
  const Rows<idx_t> id = to_rows<idx_t>(ids, ArraySpec{.name = "ids", .rank = Rank::kVector});
  if (id.rows() != v.rows()) {
    throw InvalidArgument(fmt::format("ids has {} entries but x has {} vectors; they must match",
                                      id.rows(), v.rows()));
  }
  self.write([&](Index& index) { index.add_with_ids(v.rows(), v.data(), id.data()); });
}

idx_t remove_ids(PyIndex& self, ArrayLike ids) {
  const Rows<idx_t> id =
      to_rows<idx_t>(ids, ArraySpec{.name = "ids", .rank = Rank::kVector, .allow_empty = true});
  if (id.rows() == 0) return 0;
  return self.write([&](Index& index) { return index.remove_ids(id.rows(), id.data()); });
}

Matrix2D reconstruct_n(const PyIndex& self, long long i0, long long ni) {
  if (i0 < 0 || ni < 0) {
    throw InvalidArgument(fmt::format("i0 and ni must be >= 0, got i0 = {}, ni = {}", i0, ni));
  }
  // Ids are unique: more than ntotal of them cannot all be stored. Checked before allocating
  // (the C++ call checks again under the lock).
  const idx_t stored = self.read([](const Index& index) { return index.ntotal(); });
  if (ni > stored) {
    throw InvalidArgument(fmt::format(
        "reconstruct_n: ni = {} is more than the {} vectors the index holds", ni, stored));
  }
  const std::size_t d = static_cast<std::size_t>(self.fixed().dim());
  const std::size_t n = static_cast<std::size_t>(ni);
  std::unique_ptr<float[]> out(new float[std::max<std::size_t>(n * d, 1)]);
  self.read([&](const Index& index) { index.reconstruct_n(i0, ni, out.get()); });
  return make_numpy<Matrix2D>(std::move(out), {n, d});
}

Vector1D reconstruct(const PyIndex& self, idx_t id) {
  const std::size_t d = static_cast<std::size_t>(self.fixed().dim());
  std::unique_ptr<float[]> out(new float[d]);
  self.read([&](const Index& index) { index.reconstruct(id, out.get()); });
  return make_numpy<Vector1D>(std::move(out), {d});
}

// Reads Index::next_sequential_id, which is protected: a member pointer formed through a
// derived class may be applied to any Index.
struct NextId : Index {
  static idx_t of(const Index& index) { return (index.*&NextId::next_sequential_id)(); }
};

std::string repr(nb::handle self_handle, const PyIndex& self) {
  const Index& index = self.fixed();
  const idx_t ntotal = self.read([](const Index& i) { return i.ntotal(); });
  return fmt::format("{}(d={}, metric='{}', device='{}', ntotal={})",
                     nb::cast<std::string>(self_handle.type().attr("__name__")), index.dim(),
                     to_string(index.metric()), index.device().to_string(), ntotal);
}

}  // namespace

void bind_index(nb::module_& m) {
  nb::class_<IndexHandle>(m, "_IndexHandle",
                          "A C++ index from read_index or index_factory, before a Python index\n"
                          "class takes it over.")
      .def_prop_ro(
          "kind", [](const IndexHandle& h) { return h.index ? index_kind(*h.index) : "taken"; },
          "\"Flat\", \"IVFFlat\", \"PQ\", \"IVFPQ\", \"PQFastScan\", \"IVFPQFastScan\",\n"
          "\"PreTransform\" or \"Index\"; \"taken\"\n"
          "after use.");

  nb::class_<PyIndex>(
      m, "Index",
      "Interface shared by every knnx index (FAISS conventions).\n\n"
      "Inputs are numpy arrays (or anything numpy.asarray accepts) of shape (n, d), float32 or\n"
      "float64, in C or Fortran order; a 1-D array of length d is read as one vector. Arrays\n"
      "that are already C-contiguous float32 are used without a copy; others are converted\n"
      "once. Search results are (distances float32 (nq, k), labels int64 (nq, k)), best first;\n"
      "where fewer than k vectors exist the labels are -1 and the distances +inf (L2) or -inf\n"
      "(inner product). Invalid input raises ValueError and leaves the index unchanged.\n\n"
      "Thread safety: search, reconstruct and the getters may run concurrently from any number\n"
      "of threads (the GIL is released while they run). train, add, add_with_ids, remove_ids\n"
      "and reset take the index exclusively: they wait for running searches and block new\n"
      "ones until done.")
      .def_prop_ro(
          "d", [](const PyIndex& self) { return self.fixed().dim(); }, "Vector dimension.")
      .def_prop_ro(
          "metric", [](const PyIndex& self) { return self.fixed().metric(); },
          "The knnx.Metric results are ranked by.")
      .def_prop_ro(
          "metric_type",
          [](const PyIndex& self) { return faiss_metric_code(self.fixed().metric()); },
          "FAISS's integer code of the metric: knnx.METRIC_L2 (1) or knnx.METRIC_INNER_PRODUCT "
          "(0).")
      .def_prop_ro(
          "device", [](const PyIndex& self) { return self.fixed().device().to_string(); },
          "Where the index lives: \"cpu\" or \"cuda:N\".")
      .def_prop_ro(
          "ntotal",
          [](const PyIndex& self) {
            return self.read([](const Index& index) { return index.ntotal(); });
          },
          "Number of stored vectors.")
      .def_prop_ro(
          "is_trained",
          [](const PyIndex& self) {
            return self.read([](const Index& index) { return index.is_trained(); });
          },
          "Whether the index is ready for add and search.")
      .def("__len__",
           [](const PyIndex& self) {
             return self.read([](const Index& index) { return index.ntotal(); });
           })
      .def("__repr__", [](nb::handle h) { return repr(h, nb::cast<const PyIndex&>(h)); })
      .def(
          "train",
          [](PyIndex& self, ArrayLike x) {
            const Rows<float> v = vectors_arg(self, x, "x");
            self.write([&](Index& index) { index.train(v.rows(), v.data()); });
          },
          nb::arg("x"),
          "Learns what the index needs from the vectors x (n, d); a no-op for exact indexes.")
      .def(
          "add",
          [](PyIndex& self, ArrayLike x) {
            const Rows<float> v = vectors_arg(self, x, "x");
            self.write([&](Index& index) { index.add(v.rows(), v.data()); });
          },
          nb::arg("x"),
          "Appends the vectors x (n, d). Ids are assigned sequentially, starting one past the\n"
          "largest id the index has ever held (0 for a fresh index).")
      .def("add_with_ids", &add_with_ids, nb::arg("x"), nb::arg("ids"),
           "Appends the vectors x (n, d) with the given ids (n,). Ids are converted to int64 and\n"
           "must be >= 0, unique, and not already stored; otherwise ValueError and nothing is\n"
           "added.")
      .def("search", &search, nb::arg("queries"), nb::arg("k"), nb::kw_only(),
           nb::arg("params").none() = nb::none(),
           "The k nearest stored vectors of each query (nq, d), 1 <= k <= MAX_K (262144).\n"
           "Returns (distances float32 (nq, k), labels int64 (nq, k)), best first. params: a\n"
           "knnx.SearchParameters (SearchParametersIVF for IVF indexes) for this call only.")
      .def("remove_ids", &remove_ids, nb::arg("ids"),
           "Removes every stored vector whose id is in ids; absent ids are ignored. Returns\n"
           "the number of vectors removed.")
      .def("reconstruct", &reconstruct, nb::arg("id"),
           "The stored vector with this id, as a float32 array (d,). ValueError if absent.")
      .def("reconstruct_n", &reconstruct_n, nb::arg("i0"), nb::arg("ni"),
           "The stored vectors with ids i0, i0 + 1, ..., i0 + ni - 1, float32 (ni, d) (FAISS's\n"
           "reconstruct_n; with sequential ids these are the vectors in the order added).\n"
           "ValueError naming the first absent id.")
      .def(
          "reset", [](PyIndex& self) { self.write([](Index& index) { index.reset(); }); },
          "Removes every vector (keeps training state).")
      .def("_search_ptr", &search_ptr, nb::arg("nq"), nb::arg("queries"), nb::arg("k"),
           nb::arg("distances"), nb::arg("labels"), nb::arg("params").none() = nb::none(),
           "Low-level search of a CUDA index over raw addresses: queries (nq, d) float32, and\n"
           "the outputs distances (nq, k) float32 and labels (nq, k) int64, all C-contiguous.\n"
           "Each address is device memory of the index's device or host memory; distances and\n"
           "labels both one or both the other. The caller guarantees the extents and that the\n"
           "queries are ready (their producer's stream synchronised). Results are complete when\n"
           "it returns. The GIL is released. Use search(), which does all this for tensors.")
      .def("_add_ptr", &add_ptr, nb::arg("n"), nb::arg("x"), nb::arg("ids") = nb::none(),
           nb::arg("chunk_size") = 0, nb::arg("progress").none() = nb::none(),
           "Low-level add to a CUDA index of n float32 rows (n, d) at device address x, with\n"
           "sequential ids, or the given host ids (n,), as _add_chunked. Use add() /\n"
           "add_with_ids().")
      .def("_add_chunked", &add_chunked, nb::arg("x"), nb::arg("ids").none(), nb::arg("chunk_size"),
           nb::arg("progress").none(),
           "add(x) (ids None) or add_with_ids(x, ids) in chunks of chunk_size rows (0: one),\n"
           "calling progress(added, n) after each, in one call under the index's writer lock:\n"
           "no other writer comes between the chunks, and if a chunk (or progress) raises, the\n"
           "chunks already added are taken out and the next id is set back. progress may read\n"
           "the index but not change it.")
      .def("_train_ptr", &train_ptr, nb::arg("n"), nb::arg("x"),
           "Low-level train of a CUDA index on n float32 rows at device address x. Use train().")
      .def(
          "_train_with_progress",
          [](PyIndex& self, ArrayLike x, nb::object progress) {
            const Rows<float> v = vectors_arg(self, x, "x");
            self.write(
                [&](Index& index) { train_with_progress(index, v.rows(), v.data(), progress); });
          },
          nb::arg("x"), nb::arg("progress").none(),
          "train(x) that calls progress(iteration, objective, seconds) after every k-means\n"
          "iteration of an IVF index (also one inside an IndexPreTransform); the same as\n"
          "train(x) for other indexes. An exception raised by progress stops the training and\n"
          "leaves the index as it was.")
      .def_prop_ro(
          "_next_id",
          [](const PyIndex& self) {
            return self.read([](const Index& i) { return NextId::of(i); });
          },
          "The first id add() would assign now (one past the largest id the index ever held).")
      .def("_float32_rows", &float32_rows, nb::arg("x"), nb::arg("name"),
           "x checked and converted as search/add read host arrays: a C-contiguous float32\n"
           "numpy array (n, d), without a copy when x already is one. Errors name `name`.");

  nb::enum_<FlatPrecision>(
      m, "FlatPrecision",
      "How a GPU IndexFlat computes distances. EXACT: float32-level distances (FP32 kernels;\n"
      "batches of many queries take score tiles from 3xTF32 tensor-core products, see\n"
      "KNNX_FLAT_GEMM). FAST: tensor-core distances (tf32, or fp16 operands scaled by powers\n"
      "of two) select candidates, at least KNNX_FLAT_OVERFETCH x k, that are re-ranked exactly\n"
      "in float32, so returned distances are exact and only the candidate set is approximate\n"
      "(KNNX_FLAT_FAST_KERNEL and KNNX_FLAT_FUSED_OPERANDS pick how the candidates are found).\n"
      "The CPU backend is always exact.")
      .value("EXACT", FlatPrecision::Exact)
      .value("FAST", FlatPrecision::Fast);

  nb::class_<PyIndexFlat, PyIndex>(
      m, "IndexFlat",
      "Exact (brute-force) search over the stored vectors: blocked BLAS on the CPU, fused\n"
      "distance and k-selection kernels on a CUDA device.")
      .def(
          "__init__",
          [](PyIndexFlat* self, long long d, const MetricArg& metric, const std::string& device) {
            new (self) PyIndexFlat(dim_arg(d), metric_arg(metric), Device::parse(device));
          },
          nb::arg("d"), nb::arg("metric") = "l2", nb::arg("device") = "cpu",
          "An empty exact index for vectors of dimension d. metric: \"l2\" or \"ip\" (or a\n"
          "knnx.Metric); device: \"cpu\", \"cuda\" or \"cuda:N\".")
      .def(
          "__init__",
          [](PyIndexFlat* self, IndexHandle& handle) {
            if (!handle.index || !dynamic_cast<IndexFlat*>(handle.index.get())) {
              throw InvalidArgument("the handle does not hold an IndexFlat");
            }
            new (self) PyIndexFlat(handle.take());
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).")
      .def(
          "vectors",
          [](const PyIndexFlat& self) {
            std::vector<float> v = self.read(
                [](const Index& index) { return static_cast<const IndexFlat&>(index).vectors(); });
            const std::size_t d = static_cast<std::size_t>(self.fixed().dim());
            const std::size_t n = v.size() / d;
            return make_numpy<Matrix2D>(std::move(v), {n, d});
          },
          "A copy of the stored vectors in row order, float32 (ntotal, d).")
      .def(
          "ids",
          [](const PyIndexFlat& self) {
            std::vector<idx_t> v = self.read(
                [](const Index& index) { return static_cast<const IndexFlat&>(index).ids(); });
            const std::size_t n = v.size();
            return make_numpy<Ids1D>(std::move(v), {n});
          },
          "The ids of the stored vectors in row order, int64 (ntotal,).")
      .def_prop_rw(
          "precision",
          [](const PyIndexFlat& self) {
            return self.read([](const Index& index) {
              return static_cast<const IndexFlat&>(index).precision();
            });
          },
          [](PyIndexFlat& self, const PrecisionArg& precision) {
            const FlatPrecision p = precision_arg(precision);
            self.write([p](Index& index) { static_cast<IndexFlat&>(index).set_precision(p); });
          },
          "knnx.FlatPrecision of GPU searches (EXACT by default); also settable as \"exact\"\n"
          "or \"fast\". Has no effect on the CPU, which is always exact.")
      .def(
          "precision_used",
          [](const PyIndexFlat& self, long long nq, long long k_in, const SearchParams* params_in) {
            if (nq < 0) throw InvalidArgument(fmt::format("nq must be >= 0, got {}", nq));
            const int k = k_arg(k_in);
            const std::unique_ptr<SearchParams> params = copy_search_params(params_in);
            return self.read([&](const Index& index) {
              return static_cast<const IndexFlat&>(index).precision_used(nq, k, params.get());
            });
          },
          nb::arg("nq"), nb::arg("k"), nb::arg("params").none() = nb::none(),
          "The knnx.FlatPrecision a search of nq queries for k results (with params) computes\n"
          "with: FAST only where the fast mode can gain (GPU, many queries, k up to\n"
          "KNNX_FLAT_FAST_MAX_K), EXACT otherwise; a search asked to run fast that cannot gain\n"
          "runs exact.");
}

}  // namespace knnx::python
