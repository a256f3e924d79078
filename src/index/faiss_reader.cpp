// read_faiss_index: indexes written by FAISS's write_index, as knnx indexes.
//
// What FAISS writes (little-endian, no padding, sizes as uint64 counts of elements):
//   index       fourcc, then the header: d (int32), ntotal (int64), two unused int64,
//               is_trained (uint8), metric_type (int32; a float metric_arg follows when > 1)
//   IxF2 / IxFI / IxFl  IndexFlat (L2 / IP / any metric): header, vector<float> of ntotal * d
//   IwFl        IndexIVFFlat: header, nlist, nprobe (uint64 each), the quantizer (an index),
//               the direct map (type uint8, vector<int64>, and for a hash table a vector of
//               int64 pairs), the inverted lists: "ilar", nlist, code_size (uint64 each), the
//               list sizes ("full" + vector<uint64> of nlist sizes, or "sprs" + vector<uint64>
//               of (list, size) pairs), then per non-empty list its codes (size * code_size
//               bytes) and its ids (size int64)
//   IxMp / IxM2 IndexIDMap / IndexIDMap2: header, the wrapped index, vector<int64> id_map
//               (the id of each of the wrapped index's vectors, by its sequential id)
//   IxPT        IndexPreTransform: header, int32 count, the transforms (applied first first),
//               then the wrapped index
//   IxRF        IndexRefineFlat: header, the base index, the refine index (a flat index whose
//               row i holds the vector of the base's label i), k_factor (float)
// and each transform is its fourcc, its own fields, then d_in, d_out (int32), is_trained (uint8):
//   Pcam / PcAm PCAMatrix: eigen_power (float), epsilon (float; Pcam only), random_rotation
//               (uint8), balanced_bins (int32), vector<float> mean, eigenvalues and PCAMat, then
//               the linear-transform fields
//   rrot / LTra RandomRotationMatrix / LinearTransform (OPQ's matrix too): the linear-transform
//               fields: have_bias (uint8), vector<float> A (d_out x d_in), vector<float> b
//   VNrm        NormalizationTransform: norm (float; only 2 is L2 normalisation)
//
// The file is parsed whole into plain structures first: every count is checked against the
// bytes left in the file before anything is allocated for it, and every size against the
// others (list sizes against ntotal, matrices against d_in and d_out). Only then are the knnx
// indexes and transforms built, through the entry read_index uses for its own files.
#include "index/faiss_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/binary_file.hpp"
#include "core/check.hpp"
#include "index/index_restore.hpp"
#include "index/transform_internal.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/transform.hpp"

namespace knnx::detail {
namespace {

constexpr int kMaxChainLength = 16;  // transforms of one IndexPreTransform
constexpr int kMaxDepth = 8;         // nested wrappers (IDMap, PreTransform)
// An untrained IVF index's centroids are allocated without a bound from the file: capped.
constexpr std::uint64_t kMaxUntrainedLists = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxUntrainedCentroidValues = std::uint64_t{1} << 24;

// A cursor over the file: every read is checked against the bytes left.
class Cursor {
 public:
  explicit Cursor(const InputFile& file) : file_(file) {}

  std::uint64_t left() const { return file_.size() - pos_; }
  std::uint64_t pos() const { return pos_; }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw FormatError(fmt::format("'{}': FAISS index file, at byte {}: {}", file_.path(), pos_,
                                  fmt::format(format, std::forward<Args>(args)...)));
  }

  void bytes(void* out, std::uint64_t n, const char* what) {
    if (n > left()) fail("{} needs {} bytes, only {} left", what, n, left());
    if (n > 0) file_.read_at(pos_, out, static_cast<std::size_t>(n));
    pos_ += n;
  }
  void skip(std::uint64_t n, const char* what) {
    if (n > left()) fail("{} needs {} bytes, only {} left", what, n, left());
    pos_ += n;
  }
  template <typename T>
  T scalar(const char* what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  std::string fourcc(const char* what) {
    char c[4];
    bytes(c, 4, what);
    return std::string(c, 4);
  }
  // A count of elements of `element` bytes that must fit in the bytes left.
  std::uint64_t count(std::uint64_t element, const char* what) {
    const auto n = scalar<std::uint64_t>(what);
    if (n > left() / element) {
      fail("{} has {} elements of {} bytes, more than the {} bytes left", what, n, element, left());
    }
    return n;
  }
  // n elements of T, after checking they are in the file.
  template <typename T>
  std::vector<T> values(std::uint64_t n, const char* what) {
    if (n > left() / sizeof(T))
      fail("{} needs {} bytes, only {} left", what, n * sizeof(T), left());
    std::vector<T> out;
    try {
      out.resize(static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("loading '{}': cannot allocate {} bytes for {}", file_.path(),
                                    n * sizeof(T), what));
    }
    bytes(out.data(), n * sizeof(T), what);
    return out;
  }
  // FAISS's vector<T>: a count, then the elements.
  template <typename T>
  std::vector<T> vector(const char* what) {
    return values<T>(count(sizeof(T), what), what);
  }

 private:
  const InputFile& file_;
  std::uint64_t pos_ = 0;
};

struct Header {
  int d = 0;
  idx_t ntotal = 0;
  bool trained = false;
  Metric metric = Metric::L2;
};

struct Transform {
  std::string fourcc;
  int d_in = 0;
  int d_out = 0;
  std::vector<float> matrix;  // A, d_out x d_in (linear transforms)
  std::vector<float> mean;    // PCA: the input mean (y = A (x - mean))
  std::vector<float> eigenvalues;
  bool whiten = false;
  float whiten_eps = 0.0f;
};

struct Node {
  std::string fourcc;
  Header h;
  std::vector<float> vectors;  // Flat: ntotal x d
  // IVFFlat
  int n_lists = 0;
  std::uint64_t n_probe = 1;
  std::vector<float> centroids;                  // n_lists x d, empty when untrained
  std::vector<std::vector<float>> list_vectors;  // per list
  std::vector<std::vector<idx_t>> list_ids;      // per list
  // IDMap, PreTransform, RefineFlat (sub: the base index)
  std::unique_ptr<Node> sub;
  std::unique_ptr<Node> refine;  // RefineFlat: the flat index of the exact vectors
  float k_factor = 1.0f;
  std::vector<idx_t> id_map;
  std::vector<Transform> chain;
};

bool is_flat(const std::string& c) { return c == "IxF2" || c == "IxFI" || c == "IxFl"; }

[[noreturn]] void unsupported(const Cursor& in, const std::string& fourcc, const char* kind) {
  std::string shown;
  for (char c : fourcc) {
    shown += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", c & 0xff);
  }
  throw NotSupported(fmt::format(
      "FAISS {} type '{}' (at byte {}) is not supported by knnx's FAISS reader; it reads "
      "{}",
      kind, shown, in.pos() - 4,
      std::string(kind) == "index"
          ? "IndexFlatL2 (IxF2), IndexFlatIP (IxFI), IndexFlat (IxFl), IndexIVFFlat (IwFl), "
            "IndexIDMap (IxMp), IndexIDMap2 (IxM2), IndexPreTransform (IxPT) and "
            "IndexRefineFlat (IxRF)"
          : "PCAMatrix (Pcam, PcAm), RandomRotationMatrix (rrot), LinearTransform (LTra) and "
            "NormalizationTransform (VNrm)"));
}

void check_finite(const Cursor& in, const std::vector<float>& v, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) in.fail("{} holds a non-finite value at element {}", what, i);
  }
}

// check_finite, and every row of d within the norm bound (kMaxSquaredNorm) that add applies.
void check_vectors(const Cursor& in, const std::vector<float>& v, int d, const char* what) {
  check_finite(in, v, what);
  double norm = 0.0;
  const idx_t rows = static_cast<idx_t>(v.size()) / d;
  const idx_t row = detail::first_row_above_norm_bound(rows, d, v.data(), &norm);
  if (row >= 0) {
    in.fail(
        "{} hold row {} of squared L2 norm {:.4g}, above the largest accepted, {:.4g} "
        "(FLT_MAX / 8)",
        what, row, norm, detail::kMaxSquaredNorm);
  }
}

Header read_header(Cursor& in) {
  Header h;
  const auto d = in.scalar<std::int32_t>("d");
  if (d < 1 || d > kMaxDim) in.fail("d = {} is not in [1, {}]", d, kMaxDim);
  h.d = d;
  const auto ntotal = in.scalar<std::int64_t>("ntotal");
  if (ntotal < 0) in.fail("ntotal = {} is negative", ntotal);
  h.ntotal = ntotal;
  in.skip(16, "the header's unused fields");
  const auto trained = in.scalar<std::uint8_t>("is_trained");
  if (trained > 1) in.fail("is_trained = {} is not 0 or 1", trained);
  h.trained = trained == 1;
  const auto metric = in.scalar<std::int32_t>("metric_type");
  if (metric == 0) {
    h.metric = Metric::InnerProduct;
  } else if (metric == 1) {
    h.metric = Metric::L2;
  } else {
    throw NotSupported(
        fmt::format("FAISS metric_type {} is not supported: knnx has METRIC_INNER_PRODUCT (0) and "
                    "METRIC_L2 (1)",
                    metric));
  }
  return h;
}

// The linear-transform fields (have_bias, A, b), then the common tail (d_in, d_out, trained).
void read_linear(Cursor& in, Transform& t, std::vector<float>* bias) {
  const auto have_bias = in.scalar<std::uint8_t>("have_bias");
  if (have_bias > 1) in.fail("have_bias = {} is not 0 or 1", have_bias);
  t.matrix = in.vector<float>("the transform matrix A");
  std::vector<float> b = in.vector<float>("the transform bias b");
  if (bias)
    *bias = std::move(b);
  else if (std::any_of(b.begin(), b.end(), [](float v) { return v != 0.0f; }))
    throw NotSupported(
        "a FAISS LinearTransform with a bias (y = A x + b, b != 0) has no knnx "
        "equivalent");
}

void read_tail(Cursor& in, Transform& t) {
  const auto d_in = in.scalar<std::int32_t>("d_in");
  const auto d_out = in.scalar<std::int32_t>("d_out");
  if (d_in < 1 || d_in > kMaxDim || d_out < 1 || d_out > d_in) {
    in.fail("transform '{}' maps {} to {} dimensions; knnx needs 1 <= d_out <= d_in <= {}",
            t.fourcc, d_in, d_out, kMaxDim);
  }
  t.d_in = d_in;
  t.d_out = d_out;
  const auto trained = in.scalar<std::uint8_t>("is_trained");
  if (trained != 1) in.fail("transform '{}' is not trained", t.fourcc);
}

Transform read_transform(Cursor& in) {
  Transform t;
  t.fourcc = in.fourcc("a transform type");
  if (t.fourcc == "VNrm") {
    const auto norm = in.scalar<float>("norm");
    if (norm != 2.0f) {
      throw NotSupported(fmt::format(
          "a FAISS NormalizationTransform with norm {} (knnx normalises by the L2 norm, 2)", norm));
    }
    read_tail(in, t);
    if (t.d_out != t.d_in) in.fail("VNrm maps {} to {} dimensions", t.d_in, t.d_out);
    return t;
  }
  if (t.fourcc == "Pcam" || t.fourcc == "PcAm") {
    const auto power = in.scalar<float>("eigen_power");
    if (t.fourcc == "Pcam") t.whiten_eps = in.scalar<float>("epsilon");
    if (power == -0.5f) {
      t.whiten = true;
    } else if (power != 0.0f) {
      throw NotSupported(fmt::format(
          "a FAISS PCAMatrix with eigen_power {} (knnx has 0, plain, and -0.5, whitening)", power));
    }
    if (!(t.whiten_eps >= 0.0f && std::isfinite(t.whiten_eps)))
      in.fail("epsilon = {} is not finite and >= 0", t.whiten_eps);
    in.skip(1 + 4, "random_rotation and balanced_bins");  // already part of A
    t.mean = in.vector<float>("the PCA mean");
    t.eigenvalues = in.vector<float>("the PCA eigenvalues");
    in.skip(in.count(sizeof(float), "the PCA matrix") * sizeof(float), "the PCA matrix");
    std::vector<float> bias;
    read_linear(in, t, &bias);  // b = -A mean: the shift is taken from the mean
    read_tail(in, t);
    if (t.mean.size() != static_cast<std::size_t>(t.d_in))
      in.fail("the PCA mean has {} values, d_in = {}", t.mean.size(), t.d_in);
    if (t.eigenvalues.size() != static_cast<std::size_t>(t.d_in))
      in.fail("the PCA has {} eigenvalues, d_in = {}", t.eigenvalues.size(), t.d_in);
    check_finite(in, t.mean, "the PCA mean");
    check_finite(in, t.eigenvalues, "the PCA eigenvalues");
  } else if (t.fourcc == "rrot" || t.fourcc == "LTra") {
    read_linear(in, t, nullptr);
    read_tail(in, t);
  } else {
    unsupported(in, t.fourcc, "transform");
  }
  if (t.matrix.size() != static_cast<std::size_t>(t.d_out) * static_cast<std::size_t>(t.d_in))
    in.fail("transform '{}' has a matrix of {} values, not d_out x d_in = {} x {}", t.fourcc,
            t.matrix.size(), t.d_out, t.d_in);
  check_finite(in, t.matrix, "the transform matrix");
  return t;
}

std::unique_ptr<Node> read_node(Cursor& in, int depth);

void read_flat(Cursor& in, Node& n) {
  const auto count = in.count(sizeof(float), "the stored vectors");
  const auto d = static_cast<std::uint64_t>(n.h.d);
  if (count % d != 0 || count / d != static_cast<std::uint64_t>(n.h.ntotal))
    in.fail("the flat index holds {} floats, not ntotal x d = {} x {}", count, n.h.ntotal, n.h.d);
  n.vectors = in.values<float>(count, "the stored vectors");
  check_vectors(in, n.vectors, n.h.d, "the stored vectors");
}

void read_list_sizes(Cursor& in, Node& n, std::vector<std::uint64_t>& sizes) {
  const std::string kind = in.fourcc("the list-size encoding");
  sizes.assign(static_cast<std::size_t>(n.n_lists), 0);
  if (kind == "full") {
    const std::vector<std::uint64_t> s = in.vector<std::uint64_t>("the list sizes");
    if (s.size() != sizes.size()) in.fail("{} list sizes for {} lists", s.size(), n.n_lists);
    sizes = s;
  } else if (kind == "sprs") {
    const std::vector<std::uint64_t> pairs = in.vector<std::uint64_t>("the list sizes");
    if (pairs.size() % 2 != 0) in.fail("the sparse list sizes have an odd count {}", pairs.size());
    for (std::size_t i = 0; i < pairs.size(); i += 2) {
      if (pairs[i] >= sizes.size()) in.fail("list {} of {} lists", pairs[i], n.n_lists);
      sizes[pairs[i]] = pairs[i + 1];
    }
  } else {
    in.fail("unknown list-size encoding '{}' (FAISS writes \"full\" or \"sprs\")", kind);
  }
  std::uint64_t total = 0;
  for (std::uint64_t s : sizes) {
    if (s > static_cast<std::uint64_t>(n.h.ntotal) - total)
      in.fail("the lists hold more than ntotal = {} vectors", n.h.ntotal);
    total += s;
  }
  if (total != static_cast<std::uint64_t>(n.h.ntotal))
    in.fail("the lists hold {} vectors, ntotal = {}", total, n.h.ntotal);
}

void read_ivf(Cursor& in, Node& n, int depth) {
  const auto n_lists = in.scalar<std::uint64_t>("nlist");
  if (n_lists < 1 || n_lists > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    in.fail("nlist = {} is not in [1, {}]", n_lists, std::numeric_limits<int>::max());
  n.n_lists = static_cast<int>(n_lists);
  n.n_probe = in.scalar<std::uint64_t>("nprobe");
  if (n.n_probe < 1) in.fail("nprobe = 0");

  const std::unique_ptr<Node> q = read_node(in, depth + 1);
  if (!is_flat(q->fourcc))
    throw NotSupported(
        fmt::format("an IndexIVFFlat with a '{}' quantizer (knnx reads flat "
                    "quantizers only)",
                    q->fourcc));
  if (q->h.d != n.h.d) in.fail("the quantizer has d = {}, the index d = {}", q->h.d, n.h.d);
  if (q->h.metric != n.h.metric)
    throw NotSupported(
        "an IndexIVFFlat whose quantizer ranks by another metric (knnx assigns "
        "vectors to lists by the index's own metric)");
  if (n.h.trained) {
    if (q->h.ntotal != n.n_lists)
      in.fail("the trained index's quantizer holds {} centroids, nlist = {}", q->h.ntotal,
              n.n_lists);
    n.centroids = std::move(q->vectors);
  } else if (n.h.ntotal != 0) {
    in.fail("an untrained IVF index holds {} vectors", n.h.ntotal);
  } else if (n_lists > kMaxUntrainedLists ||
             n_lists * static_cast<std::uint64_t>(n.h.d) > kMaxUntrainedCentroidValues) {
    // Nothing in the file bounds an untrained index's nlist; knnx allocates its centroids.
    throw NotSupported(fmt::format(
        "an untrained FAISS IndexIVFFlat with nlist = {} and d = {} (knnx reads untrained IVF "
        "indexes of up to {} lists and {} centroid values; train it before saving)",
        n_lists, n.h.d, kMaxUntrainedLists, kMaxUntrainedCentroidValues));
  }

  // The direct map (id -> list position) is rebuilt by knnx's own id set: skipped.
  const auto map_type = in.scalar<std::uint8_t>("the direct map type");
  if (map_type > 2) in.fail("unknown direct map type {}", map_type);
  in.skip(in.count(sizeof(std::int64_t), "the direct map") * sizeof(std::int64_t), "direct map");
  if (map_type == 2) {
    in.skip(in.count(2 * sizeof(std::int64_t), "the direct hash map") * 2 * sizeof(std::int64_t),
            "the direct hash map");
  }

  const std::string lists = in.fourcc("the inverted lists type");
  if (lists != "ilar") {
    throw NotSupported(fmt::format(
        "FAISS inverted lists of type '{}' (knnx reads in-memory lists, 'ilar')", lists));
  }
  if (in.scalar<std::uint64_t>("the lists' nlist") != n_lists) in.fail("the lists' nlist differs");
  const auto code_size = in.scalar<std::uint64_t>("code_size");
  if (code_size != sizeof(float) * static_cast<std::uint64_t>(n.h.d))
    in.fail("code_size = {}, an IVFFlat stores 4 x d = {} bytes a vector", code_size, 4 * n.h.d);
  std::vector<std::uint64_t> sizes;
  read_list_sizes(in, n, sizes);
  n.list_vectors.resize(sizes.size());
  n.list_ids.resize(sizes.size());
  for (std::size_t l = 0; l < sizes.size(); ++l) {
    if (sizes[l] == 0) continue;
    if (sizes[l] > in.left() / (code_size + sizeof(idx_t)))
      in.fail("list {} holds {} vectors, more than the {} bytes left", l, sizes[l], in.left());
    n.list_vectors[l] = in.values<float>(sizes[l] * n.h.d, "a list's vectors");
    check_vectors(in, n.list_vectors[l], n.h.d, "a list's vectors");
    n.list_ids[l] = in.values<idx_t>(sizes[l], "a list's ids");
  }
}

std::unique_ptr<Node> read_node(Cursor& in, int depth) {
  if (depth > kMaxDepth) in.fail("indexes nested deeper than {}", kMaxDepth);
  auto n = std::make_unique<Node>();
  n->fourcc = in.fourcc("an index type");
  const std::string& c = n->fourcc;
  if (!is_flat(c) && c != "IwFl" && c != "IxMp" && c != "IxM2" && c != "IxPT" && c != "IxRF") {
    unsupported(in, c, "index");
  }
  n->h = read_header(in);
  if (is_flat(c)) {
    read_flat(in, *n);
  } else if (c == "IwFl") {
    read_ivf(in, *n, depth);
  } else if (c == "IxRF") {
    n->sub = read_node(in, depth + 1);
    n->refine = read_node(in, depth + 1);
    if (!is_flat(n->refine->fourcc))
      in.fail("the refine index of an IndexRefineFlat is '{}', not a flat index",
              n->refine->fourcc);
    n->k_factor = in.scalar<float>("k_factor");
    if (!std::isfinite(n->k_factor) || n->k_factor < 1.0f)
      in.fail("k_factor {} is not finite and >= 1", n->k_factor);
    for (const Node* part : {n->sub.get(), n->refine.get()}) {
      if (part->h.d != n->h.d || part->h.ntotal != n->h.ntotal || part->h.metric != n->h.metric)
        in.fail(
            "the base or refine index's d, ntotal or metric differs from the IndexRefineFlat's");
    }
  } else if (c == "IxMp" || c == "IxM2") {
    n->sub = read_node(in, depth + 1);
    n->id_map = in.vector<idx_t>("the id map");
    if (n->id_map.size() != static_cast<std::size_t>(n->sub->h.ntotal))
      in.fail("the id map has {} ids for {} vectors", n->id_map.size(), n->sub->h.ntotal);
  } else {
    const auto count = in.scalar<std::int32_t>("the number of transforms");
    if (count < 1 || count > kMaxChainLength)
      in.fail("{} transforms (knnx reads 1 to {})", count, kMaxChainLength);
    int d = n->h.d;
    for (int i = 0; i < count; ++i) {
      n->chain.push_back(read_transform(in));
      if (n->chain.back().d_in != d)
        in.fail("transform {} takes {} dimensions, receives {}", i, n->chain.back().d_in, d);
      d = n->chain.back().d_out;
    }
    n->sub = read_node(in, depth + 1);
    if (n->sub->h.d != d) in.fail("the index takes {} dimensions, receives {}", n->sub->h.d, d);
  }
  if (n->sub && (n->sub->h.ntotal != n->h.ntotal || n->sub->h.metric != n->h.metric))
    in.fail("the wrapper's ntotal or metric differs from the wrapped index's");
  return n;
}

// --- Building the knnx index -------------------------------------------------------------

// Final ids through the id maps of the wrappers outside (innermost first).
class IdMapping {
 public:
  idx_t operator()(const Cursor& in, idx_t id) const {
    for (const std::vector<idx_t>* m : maps_) {
      if (id < 0 || static_cast<std::uint64_t>(id) >= m->size())
        in.fail("id {} is outside the id map of {} entries", id, m->size());
      id = (*m)[static_cast<std::size_t>(id)];
    }
    if (id < 0 || id > kMaxId) in.fail("id {} is outside knnx's ids, 0 to {}", id, kMaxId);
    return id;
  }
  IdMapping inner(const std::vector<idx_t>& map) const {
    IdMapping out;
    out.maps_.push_back(&map);
    out.maps_.insert(out.maps_.end(), maps_.begin(), maps_.end());
    return out;
  }

 private:
  std::vector<const std::vector<idx_t>*> maps_;
};

// The largest id + 1, after checking they are unique; returns the ids sorted.
std::vector<idx_t> sorted_unique(const Cursor& in, std::vector<idx_t> ids, idx_t& next_id) {
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    in.fail("id {} is stored twice (knnx ids are unique)",
            *std::adjacent_find(ids.begin(), ids.end()));
  next_id = ids.empty() ? 0 : ids.back() + 1;
  return ids;
}

// B with A B = I for A's orthogonal rows: B = A^T diag(1 / |a_i|^2), d_in x d_out. knnx keeps
// the reverse of every linear transform; FAISS's are all of this kind (rotations, PCA with or
// without whitening), and another matrix is NotSupported.
std::vector<float> right_inverse(const Transform& t) {
  const auto d_in = static_cast<std::size_t>(t.d_in), d_out = static_cast<std::size_t>(t.d_out);
  const float* a = t.matrix.data();
  std::vector<double> norm2(d_out);
  for (std::size_t i = 0; i < d_out; ++i) {
    for (std::size_t k = 0; k < d_in; ++k) norm2[i] += double{a[i * d_in + k]} * a[i * d_in + k];
    if (!(norm2[i] > 0)) {
      throw NotSupported(
          fmt::format("FAISS transform '{}': row {} of its matrix is zero", t.fourcc, i));
    }
  }
  for (std::size_t i = 0; i < d_out; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      double dot = 0;
      for (std::size_t k = 0; k < d_in; ++k) dot += double{a[i * d_in + k]} * a[j * d_in + k];
      if (std::abs(dot) > 1e-3 * std::sqrt(norm2[i] * norm2[j])) {
        throw NotSupported(fmt::format(
            "FAISS transform '{}': rows {} and {} of its matrix are not orthogonal (knnx's linear "
            "transforms are rotations and projections)",
            t.fourcc, j, i));
      }
    }
  }
  std::vector<float> reverse(d_in * d_out);
  for (std::size_t i = 0; i < d_out; ++i) {
    for (std::size_t k = 0; k < d_in; ++k) {
      reverse[k * d_out + i] = static_cast<float>(a[i * d_in + k] / norm2[i]);
      if (!std::isfinite(reverse[k * d_out + i])) {
        throw NotSupported(fmt::format(
            "FAISS transform '{}': row {} of its matrix is too small to invert in float32",
            t.fourcc, i));
      }
    }
  }
  return reverse;
}

std::shared_ptr<VectorTransform> make_transform(const Transform& t, Device device) {
  if (t.fourcc == "VNrm") return std::make_shared<L2Normalize>(t.d_in, device);
  std::vector<float> reverse = right_inverse(t);
  if (t.fourcc == "Pcam" || t.fourcc == "PcAm") {
    PcaParams p;
    p.whiten = t.whiten;
    p.whiten_eps = t.whiten_eps;
    p.device = device;
    auto pca = std::make_shared<PCA>(t.d_in, t.d_out, p);
    IndexRestore::set_linear(*pca, t.matrix, t.mean, std::move(reverse));
    IndexRestore::set_eigenvalues(*pca, t.eigenvalues);
    return pca;
  }
  // A matrix without a shift (a random rotation, OPQ's rotation, a plain LinearTransform):
  // knnx's OPQ with one sub-space is a linear map whose matrix is installed, not trained.
  OpqParams p;
  p.device = device;
  auto linear = std::make_shared<OPQ>(t.d_in, t.d_out, 1, p);
  IndexRestore::set_linear(*linear, t.matrix, {}, std::move(reverse));
  return linear;
}

// The ids of the flat index's rows, in row order, and the first id add() assigns after them.
std::vector<idx_t> flat_ids(const Cursor& in, const Node& n, const IdMapping& map, idx_t& next_id) {
  std::vector<idx_t> ids(static_cast<std::size_t>(n.h.ntotal));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = map(in, static_cast<idx_t>(i));
  sorted_unique(in, ids, next_id);
  return ids;
}

// Fills an empty, trained IndexIVFFlat with the lists of n, their ids mapped.
void fill_ivf(const Cursor& in, const Node& n, const IdMapping& map, IndexIVFFlat& ivf,
              idx_t& next_id, std::vector<idx_t>& sorted_out) {
  std::vector<std::vector<idx_t>> final_ids(n.list_ids.size());
  std::vector<idx_t> all;
  all.reserve(static_cast<std::size_t>(n.h.ntotal));
  for (std::size_t l = 0; l < n.list_ids.size(); ++l) {
    for (idx_t id : n.list_ids[l]) final_ids[l].push_back(map(in, id));
    all.insert(all.end(), final_ids[l].begin(), final_ids[l].end());
  }
  const std::vector<idx_t> sorted = sorted_unique(in, std::move(all), next_id);
  for (std::size_t l = 0; l < final_ids.size(); ++l) {
    const auto rows = static_cast<idx_t>(final_ids[l].size());
    if (rows == 0) continue;
    const std::vector<idx_t> lists(final_ids[l].size(), static_cast<idx_t>(l));
    IndexRestore::append_ivf_rows(ivf, rows, n.list_vectors[l].data(), final_ids[l].data(),
                                  lists.data());
  }
  IndexRestore::finish_ivf(ivf, sorted, next_id);
  sorted_out = sorted;
}

// The knnx index of the tree under root: the wrappers' transforms around an empty Flat or IVF
// index (knnx wraps only empty indexes), which is then filled with the stored vectors under
// their final ids (through every IDMap on the way).
// held receives the ids of the index built, ascending.
std::unique_ptr<Index> build(const Cursor& in, const Node& root, Device device, IdMapping map,
                             std::vector<idx_t>& held) {
  const Node* n = &root;
  std::vector<const Transform*> transforms;  // outermost first
  while (n->sub && n->fourcc != "IxRF") {
    if (n->fourcc == "IxPT") {
      for (const Transform& t : n->chain) transforms.push_back(&t);
    } else {
      map = map.inner(n->id_map);
    }
    n = n->sub.get();
  }
  std::unique_ptr<Index> index;
  IndexFlat* flat = nullptr;
  IndexIVFFlat* ivf = nullptr;
  IndexRefineFlat* refine = nullptr;
  if (n->fourcc == "IxRF") {  // made empty, filled below (wrappers take only empty indexes)
    index = std::make_unique<IndexRefineFlat>(
        std::make_unique<IndexFlat>(n->h.d, n->h.metric, device), n->k_factor);
    refine = static_cast<IndexRefineFlat*>(index.get());
  } else if (is_flat(n->fourcc)) {
    index = std::make_unique<IndexFlat>(n->h.d, n->h.metric, device);
    flat = static_cast<IndexFlat*>(index.get());
  } else {
    index = std::make_unique<IndexIVFFlat>(n->h.d, n->n_lists, n->h.metric, device);
    ivf = static_cast<IndexIVFFlat*>(index.get());
    ivf->set_n_probe(static_cast<int>(std::min<std::uint64_t>(n->n_probe, n->n_lists)));
    if (n->h.trained) ivf->set_centroids(n->centroids.data());
  }
  std::vector<std::shared_ptr<VectorTransform>> built;
  std::vector<const VectorTransform*> applied;  // outermost first: the order they apply in
  for (const Transform* t : transforms) {
    built.push_back(make_transform(*t, device));
    applied.push_back(built.back().get());
  }
  if (const int i = detail::first_unbounded_transform(applied); i >= 0) {
    in.fail(
        "transform {} ('{}') maps inputs in [-1, 1] to vectors of squared norm above {:g}, "
        "where float32 distances overflow",
        i, transforms[static_cast<std::size_t>(i)]->fourcc, detail::kMaxSquaredNorm);
  }
  std::vector<IndexPreTransform*> wrappers;
  for (auto t = built.rbegin(); t != built.rend(); ++t) {
    auto wrapper = std::make_unique<IndexPreTransform>(*t, std::move(index));
    wrappers.push_back(wrapper.get());
    index = std::move(wrapper);
  }
  idx_t next_id = 0;
  held.clear();
  const auto fill_flat = [&](const Node& node, IndexFlat& f) {
    const std::vector<idx_t> ids = flat_ids(in, node, map, next_id);
    if (node.h.ntotal > 0) IndexRestore::append_flat_rows(f, node.h.ntotal, node.vectors.data());
    IndexRestore::finish_flat(f, ids, next_id);
    held = ids;
    std::sort(held.begin(), held.end());
  };
  if (refine) {
    // The base's labels are rows of the refine index: both hold the same ids after the maps.
    std::vector<idx_t> base_ids;
    std::unique_ptr<Index> base = build(in, *n->sub, device, map, base_ids);
    auto exact = std::make_unique<IndexFlat>(n->h.d, n->h.metric, Device::cpu());
    fill_flat(*n->refine, *exact);
    if (held != base_ids)
      in.fail("the base index of an IndexRefineFlat holds other ids than its refine index");
    IndexRestore::fill_refine(*refine, std::move(base), std::move(exact), held, next_id);
  } else if (flat) {
    fill_flat(*n, *flat);
  } else if (n->h.trained) {
    fill_ivf(in, *n, map, *ivf, next_id, held);
  }
  for (IndexPreTransform* w : wrappers) IndexRestore::set_next_id(*w, next_id);
  return index;
}

}  // namespace

bool is_faiss_index_file(const InputFile& file) {
  if (file.size() < 4) return false;
  char c[4];
  file.read_at(0, c, 4);
  // FAISS's index type codes are four printable characters starting with 'I'.
  return c[0] == 'I' && std::all_of(c + 1, c + 4, [](char x) { return x > 0x20 && x < 0x7f; });
}

std::unique_ptr<Index> read_faiss_index(const InputFile& file, Device device) {
  Cursor in(file);
  const std::unique_ptr<Node> root = read_node(in, 0);
  if (in.left() != 0) in.fail("{} bytes follow the index", in.left());
  std::vector<idx_t> ids;
  return build(in, *root, device, IdMapping(), ids);
}

}  // namespace knnx::detail
