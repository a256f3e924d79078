// core/backend.hpp — the seam between the index layer and the compute backends.
//
// One Backend per device kind (src/cpu/cpu_backend.cpp, src/cuda/cuda_backend.cpp) makes the
// per-kind backends each index drives (FlatBackend, IvfBackend, KMeansBackend) and runs the
// dense linear algebra of the transforms. The index layer (src/index/) calls only this
// interface; backend_for (src/index/backends.cpp) is the one place that knows which backends
// this build holds. A new index kind (PQ, SQ, a graph) adds its own interface beside
// core/ivf_backend.hpp, one make_* method here, and an implementation in each backend directory.
//
// Arguments arrive validated. `ordinal` is the device number within the kind (0 on the CPU).
// The linear-algebra methods take and return host arrays.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dense_knobs.hpp"
#include "core/flat_backend.hpp"
#include "core/ivf_backend.hpp"
#include "core/kmeans_backend.hpp"
#include "core/pq_backend.hpp"
#include "core/shard_merger.hpp"
#include "core/sq_backend.hpp"
#include "core/stream_group.hpp"
#include "knnx/device.hpp"
#include "knnx/linalg.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// A truncated SVD: A ~ U diag(s) V^T.
struct SvdFactors {
  std::vector<float> s;  // rank values, descending
  std::vector<float> u;  // m x rank, row-major
  std::vector<float> v;  // n x rank, row-major
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- index kinds ----
  virtual std::unique_ptr<FlatBackend> make_flat(int dim, Metric metric, int ordinal) const = 0;
  virtual std::unique_ptr<IvfBackend> make_ivf(int dim, int n_lists, Metric metric,
                                               int ordinal) const = 0;
  virtual std::unique_ptr<KMeansBackend> make_kmeans(int ordinal) const = 0;
  // Product-quantizer indexes (code_size bytes a vector; CPU and CUDA). The defaults throw
  // NotSupported naming the device: a backend without PQ kernels overrides nothing.
  virtual std::unique_ptr<PqBackend> make_pq(int dim, int code_size, Metric metric,
                                             Device device) const;
  virtual std::unique_ptr<IvfPqBackend> make_ivf_pq(int dim, int n_lists, int code_size,
                                                    Metric metric, Device device) const;
  // The fast-scan kinds (IndexPQFastScan, IndexIVFPQFastScan): 4-bit codes of code_size bytes
  // kept in the fast-scan blocks (PqLayout::FastScan4); IVF codes of residuals, or with
  // by_residual false of the vectors themselves. The defaults throw NotSupported naming
  // the device; the CPU backend alone has them.
  virtual std::unique_ptr<PqBackend> make_pq_fast_scan(int dim, int code_size, Metric metric,
                                                       Device device) const;
  virtual std::unique_ptr<IvfPqBackend> make_ivf_pq_fast_scan(int dim, int n_lists, int code_size,
                                                              bool by_residual, Metric metric,
                                                              Device device) const;
  // The scalar-quantizer indexes' storage and search; the default throws NotSupported naming
  // the device, as make_pq's.
  virtual std::unique_ptr<SqBackend> make_sq(const SqLayout& layout, Device device) const;

  // ---- transforms ----
  // The dense steps below take their settings (tiles, scratch bound) as knobs, resolved by the
  // caller once per call.
  // out (n x d_out) = (x + shift_in) W + shift_out (W d_in x d_out row-major; shifts may be null).
  virtual void affine_map(int ordinal, idx_t n, idx_t d_in, idx_t d_out, const float* x,
                          const float* shift_in, const float* w, const float* shift_out, float* out,
                          const DenseKnobs& knobs) const = 0;
  // out (d x d) = sum_i (x_i + shift)(x_i + shift)^T (shift may be null).
  virtual void gram(int ordinal, idx_t n, idx_t d, const float* x, const float* shift, float* out,
                    const DenseKnobs& knobs) const = 0;
  // out (da x db) = a^T b for a (n x da) and b (n x db).
  virtual void gemm_at_b(int ordinal, idx_t n, idx_t da, idx_t db, const float* a, const float* b,
                         float* out, const DenseKnobs& knobs) const = 0;
  // Each row of x (n x d) scaled to unit L2 norm (zero rows stay zero).
  virtual void l2_normalize(int ordinal, idx_t n, idx_t d, const float* x, float* out,
                            const DenseKnobs& knobs) const = 0;

  // ---- linear algebra (knnx/linalg.hpp) ----
  // c (k) = Q^T v for Q's k columns stored as rows of q_cols (k x m).
  virtual void project_coeffs(int ordinal, idx_t m, idx_t k, const float* q_cols, const float* v,
                              float* c, const DenseKnobs& knobs) const = 0;
  // a (m x k, k <= m) = q (m x k) r (k x k, upper triangular).
  virtual void qr(int ordinal, idx_t m, idx_t k, const float* a, float* q, float* r,
                  const DenseKnobs& knobs) const = 0;
  // Subspace-iteration SVD of a (m x n) with p >= rank columns, starting from v0 (n x p).
  virtual SvdFactors svd(int ordinal, idx_t m, idx_t n, const float* a, int rank, int p, int n_iter,
                         const std::vector<float>& v0, const DenseKnobs& knobs) const = 0;
  // The GEMM tiles the device uses under knobs (the CPU has none: a default GemmTiles).
  virtual GemmTiles gemm_tiles(int ordinal, const DenseKnobs& knobs) const = 0;

  // ---- streams and pipelines ----
  // n streams on the device (knnx::StreamSet); InvalidArgument on a kind without streams.
  virtual std::unique_ptr<StreamGroup> make_streams(int ordinal, int n) const = 0;

  // Searches nq host queries (nq x dim) in chunks of `chunk` rows: search(count, queries,
  // distances, labels) runs for each chunk, in order, on arrays the backend provides (on a GPU,
  // device staging buffers whose copies overlap the neighbouring chunks' searches); once a
  // chunk's results are in the host arrays distances / labels (nq x k), delivered(first, count)
  // runs (on a GPU, on a runtime thread; it must not throw). Returns when every chunk is
  // delivered; rethrows the first error of search.
  using ChunkSearch =
      std::function<void(idx_t count, const float* queries, float* distances, idx_t* labels)>;
  using ChunkDelivered = std::function<void(idx_t first, idx_t count)>;
  virtual void search_in_chunks(int ordinal, idx_t nq, idx_t dim, int k, idx_t chunk,
                                const float* queries, float* distances, idx_t* labels,
                                const ChunkSearch& search,
                                const ChunkDelivered& delivered) const = 0;

  // ---- several devices ----
  // A merger of shards on these devices of this kind (ordinals[i]: shard i's device; results
  // merged on ordinals[0]), or null when this kind has none (the CPU) or cannot take that many
  // shards: the host merges then. use_nccl asks for NCCL transfers (only when nccl_compiled()).
  virtual std::unique_ptr<ShardMerger> make_shard_merger(std::vector<int> ordinals,
                                                         bool use_nccl) const = 0;
};

// The backend of `device`'s kind. NotSupported when this build lacks that kind; InvalidArgument
// when the device does not exist.
const Backend& backend_for(Device device);

// Whether p points to device memory of a backend (false in a CPU-only build).
bool is_device_pointer(const void* p);

}  // namespace knnx::detail
