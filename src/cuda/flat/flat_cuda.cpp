// CUDA flat backend: vectors resident on one device (rows padded to a multiple of 4 floats),
// searched by the fused streaming kernel for few queries and by cuBLAS GEMM tiles folded into
// a running top-k for many. Every call runs on a stream of its own and synchronises only
// before returning.
#include "cuda/flat/flat_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/check.hpp"
#include "cuda/flat/flat_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/select/block_select_limits.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

constexpr std::int64_t kMaxRows = INT32_MAX;  // kernels carry row numbers as int32

class FlatCuda final : public detail::FlatBackend {
 public:
  FlatCuda(int dim, Metric metric, int device)
      : dim_(dim), dp_((dim + 3) / 4 * 4), metric_(metric), device_(device), streams_(device) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
  }

  ~FlatCuda() override {
    DeviceGuard guard(device_);
    data_.release();
    norms_.release();
    ids_dev_.release();
    cudaStreamSynchronize(main_->stream());
  }

  idx_t size() const override { return n_; }

  void add(idx_t n, const float* x) override {
    detail::require(n_ + n <= kMaxRows, "a GPU flat index holds at most {} vectors, got {} + {}",
                    kMaxRows, n_, n);
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const bool sync = config().sync_check;
    reserve(n_ + n);
    float* dst = data_.data() + n_ * dp_;
    if (dp_ != dim_) KNNX_CUDA_CHECK(cudaMemsetAsync(dst, 0, sizeof(float) * n * dp_, s));
    KNNX_CUDA_CHECK(cudaMemcpy2DAsync(dst, sizeof(float) * dp_, x, sizeof(float) * dim_,
                                      sizeof(float) * dim_, static_cast<std::size_t>(n),
                                      cudaMemcpyDefault, s));
    launch_row_norms(dst, n, dp_, norms_.data() + n_, s, sync);
    main_->synchronize();
    n_ += n;
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::IdMap& ids) const override {
    DeviceGuard guard(device_);
    const Config cfg = config();
    auto lease = streams_.acquire();
    const cudaStream_t s = lease->stream();
    const bool sync = cfg.sync_check;
    const bool out_on_device = is_device_pointer(distances);
    detail::require(out_on_device == is_device_pointer(labels),
                    "distances and labels must both be host or both be device memory");
    const std::int64_t* ids_dev = device_ids(ids, s);

    DeviceBuffer<float> d_out;
    DeviceBuffer<std::int64_t> l_out;
    float* dist = distances;
    std::int64_t* lab = labels;
    if (!out_on_device) {
      d_out = DeviceBuffer<float>(static_cast<std::size_t>(nq) * k, s);
      l_out = DeviceBuffer<std::int64_t>(static_cast<std::size_t>(nq) * k, s);
      dist = d_out.data();
      lab = l_out.data();
    }

    // Queries, padded to dp_, in batches bounded by the workspace.
    const std::int64_t workspace = static_cast<std::int64_t>(cfg.gpu_workspace_mb) << 20;
    const bool stream_path = nq <= cfg.flat_stream_max_nq;
    const std::int64_t batch = stream_path ? nq : query_batch(nq, k, cfg, workspace);
    DeviceBuffer<float> qbuf(static_cast<std::size_t>(batch) * dp_, s);
    for (std::int64_t q0 = 0; q0 < nq; q0 += batch) {
      const std::int64_t bq = std::min(batch, nq - q0);
      if (dp_ != dim_) KNNX_CUDA_CHECK(cudaMemsetAsync(qbuf.data(), 0, sizeof(float) * bq * dp_, s));
      KNNX_CUDA_CHECK(cudaMemcpy2DAsync(qbuf.data(), sizeof(float) * dp_, queries + q0 * dim_,
                                        sizeof(float) * dim_, sizeof(float) * dim_,
                                        static_cast<std::size_t>(bq), cudaMemcpyDefault, s));
      float* dist_b = dist + q0 * k;
      std::int64_t* lab_b = lab + q0 * k;
      if (n_ == 0) {
        launch_flat_merge(nullptr, nullptr, static_cast<int>(bq), 0, kind(), k, nullptr, nullptr,
                          dist_b, lab_b, s, sync);
      } else if (stream_path) {
        search_stream(qbuf.data(), static_cast<int>(bq), k, ids_dev, dist_b, lab_b, s, sync);
      } else {
        search_tiles(*lease, qbuf.data(), static_cast<int>(bq), k, cfg, ids_dev, dist_b, lab_b);
      }
    }
    if (!out_on_device) {
      KNNX_CUDA_CHECK(cudaMemcpyAsync(distances, dist, sizeof(float) * nq * k,
                                      cudaMemcpyDeviceToHost, s));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(labels, lab, sizeof(std::int64_t) * nq * k,
                                      cudaMemcpyDeviceToHost, s));
    }
    lease->synchronize();
  }

  void remove_rows(const std::vector<std::uint8_t>& remove) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    std::vector<std::int64_t> keep;
    keep.reserve(static_cast<std::size_t>(n_));
    for (std::int64_t r = 0; r < n_; ++r) {
      if (!remove[static_cast<std::size_t>(r)]) keep.push_back(r);
    }
    const std::int64_t m = static_cast<std::int64_t>(keep.size());
    const std::size_t cap = std::max<std::size_t>(static_cast<std::size_t>(m), 1);
    DeviceBuffer<float> data(cap * dp_, s);
    DeviceBuffer<float> norms(cap, s);
    DeviceBuffer<std::int64_t> keep_dev(cap, s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(keep_dev.data(), keep.data(), sizeof(std::int64_t) * m,
                                    cudaMemcpyHostToDevice, s));
    const bool sync = config().sync_check;
    launch_gather_rows(data_.data(), dp_, keep_dev.data(), m, data.data(), s, sync);
    launch_row_norms(data.data(), m, dp_, norms.data(), s, sync);
    main_->synchronize();
    data_.swap(data);
    norms_.swap(norms);
    capacity_ = static_cast<std::int64_t>(cap);
    n_ = m;
  }

  void reconstruct(idx_t row, float* out) const override {
    DeviceGuard guard(device_);
    KNNX_CUDA_CHECK(cudaMemcpy(out, data_.data() + row * dp_, sizeof(float) * dim_,
                               cudaMemcpyDeviceToHost));
  }

  std::vector<float> vectors() const override {
    DeviceGuard guard(device_);
    std::vector<float> out(static_cast<std::size_t>(n_) * dim_);
    if (n_ > 0) {
      KNNX_CUDA_CHECK(cudaMemcpy2D(out.data(), sizeof(float) * dim_, data_.data(),
                                   sizeof(float) * dp_, sizeof(float) * dim_,
                                   static_cast<std::size_t>(n_), cudaMemcpyDeviceToHost));
    }
    return out;
  }

  void reset() override {
    DeviceGuard guard(device_);
    data_.release();
    norms_.release();
    main_->synchronize();
    n_ = 0;
    capacity_ = 0;
  }

  void set_fast_mode(bool fast) override { fast_ = fast; }

  void check_finite(idx_t n, const float* x, const char* what) const override {
    if (!is_device_pointer(x)) {
      detail::check_finite_host(n, dim_, x, what);
      return;
    }
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const cudaStream_t s = lease->stream();
    DeviceBuffer<unsigned long long> count(1, s);
    KNNX_CUDA_CHECK(cudaMemsetAsync(count.data(), 0, sizeof(unsigned long long), s));
    launch_count_nonfinite(x, n * dim_, count.data(), s, config().sync_check);
    unsigned long long host = 0;
    KNNX_CUDA_CHECK(cudaMemcpyAsync(&host, count.data(), sizeof(host), cudaMemcpyDeviceToHost, s));
    lease->synchronize();
    detail::require(host == 0, "{} contains {} non-finite value(s) (NaN or Inf)", what, host);
  }

 private:
  ScoreKind kind() const { return metric_ == Metric::L2 ? ScoreKind::L2 : ScoreKind::InnerProduct; }

  // Grows storage to hold `rows` (amortised doubling). Strong guarantee: on OutOfMemory the
  // old buffers are untouched.
  void reserve(std::int64_t rows) {
    if (rows <= capacity_) return;
    const std::int64_t cap = std::max<std::int64_t>({rows, 2 * capacity_, 1024});
    const cudaStream_t s = main_->stream();
    DeviceBuffer<float> data(static_cast<std::size_t>(cap) * dp_, s);
    DeviceBuffer<float> norms(static_cast<std::size_t>(cap), s);
    if (n_ > 0) {
      KNNX_CUDA_CHECK(cudaMemcpyAsync(data.data(), data_.data(), sizeof(float) * n_ * dp_,
                                      cudaMemcpyDeviceToDevice, s));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(norms.data(), norms_.data(), sizeof(float) * n_,
                                      cudaMemcpyDeviceToDevice, s));
    }
    data_.swap(data);
    norms_.swap(norms);
    capacity_ = cap;
  }

  // Device copy of the ids when they are not the row numbers (cached per IdMap version).
  const std::int64_t* device_ids(const detail::IdMap& ids, cudaStream_t s) const {
    if (ids.is_identity()) return nullptr;
    std::lock_guard<std::mutex> lock(ids_mutex_);
    if (!ids_dev_.data() || ids_version_ != ids.version() || ids_dev_.size() < ids.ids().size()) {
      DeviceBuffer<std::int64_t> fresh(std::max<std::size_t>(ids.ids().size(), 1), main_->stream());
      KNNX_CUDA_CHECK(cudaMemcpyAsync(fresh.data(), ids.data(), sizeof(std::int64_t) * ids.size(),
                                      cudaMemcpyHostToDevice, main_->stream()));
      main_->synchronize();
      ids_dev_.swap(fresh);
      ids_version_ = ids.version();
    }
    (void)s;
    return ids_dev_.data();
  }

  // Candidates the GEMM path keeps per query: k, or k x overfetch in fast mode.
  int kept_per_query(int k, const Config& cfg) const {
    if (!fast_) return k;
    return static_cast<int>(std::min<std::int64_t>(
        kMaxSelectK, std::max<std::int64_t>(k, static_cast<std::int64_t>(k) * cfg.flat_overfetch)));
  }

  std::int64_t query_batch(idx_t nq, int k, const Config& cfg, std::int64_t workspace) const {
    const std::int64_t kk = kept_per_query(k, cfg);
    const std::int64_t bn = std::min<std::int64_t>(cfg.flat_tile_rows, std::max<std::int64_t>(n_, 1));
    // Per query: a tile row, the running top-k state, the padded query and its norm.
    const std::int64_t per_query = bn * 4 + kk * 8 + static_cast<std::int64_t>(dp_) * 4 + 4;
    const std::int64_t fit = std::max<std::int64_t>(1, workspace / per_query);
    return std::min<std::int64_t>({nq, fit, cfg.flat_tile_queries});
  }

  void search_stream(const float* q, int nq, int k, const std::int64_t* ids_dev, float* dist,
                     std::int64_t* lab, cudaStream_t s, bool sync) const {
    const int sms = device_properties(device_).multiProcessorCount;
    // Enough blocks to fill the device, but parts long enough that partial results stay small.
    const std::int64_t min_rows = std::max<std::int64_t>(2048, 4LL * k);
    const std::int64_t max_parts = std::max<std::int64_t>(1, n_ / min_rows);
    const std::int64_t want = std::max<std::int64_t>(1, (4LL * sms) / nq);
    const std::int64_t parts = std::min(want, max_parts);
    const std::int64_t rows_per_part = (n_ + parts - 1) / parts;
    const std::size_t partial = static_cast<std::size_t>(nq) * parts * k;
    DeviceBuffer<std::uint32_t> keys(partial, s);
    DeviceBuffer<std::int32_t> rows(partial, s);
    launch_flat_stream(data_.data(), n_, dp_, q, nq, kind(), k, static_cast<int>(parts),
                       rows_per_part, keys.data(), rows.data(), s, sync);
    launch_flat_merge(keys.data(), rows.data(), nq, static_cast<int>(parts * k), kind(), k,
                      nullptr, ids_dev, dist, lab, s, sync);
  }

  void search_tiles(StreamContext& ctx, const float* q, int bq, int k, const Config& cfg,
                    const std::int64_t* ids_dev, float* dist, std::int64_t* lab) const {
    const cudaStream_t s = ctx.stream();
    const bool sync = cfg.sync_check;
    const int kk = kept_per_query(k, cfg);
    const std::int64_t bn_max = std::min<std::int64_t>(cfg.flat_tile_rows, n_);
    DeviceBuffer<float> tile(static_cast<std::size_t>(bq) * bn_max, s);
    DeviceBuffer<std::uint32_t> state_keys(static_cast<std::size_t>(bq) * kk, s);
    DeviceBuffer<std::int32_t> state_rows(static_cast<std::size_t>(bq) * kk, s);
    DeviceBuffer<float> qnorms(static_cast<std::size_t>(bq), s);
    if (metric_ == Metric::L2) launch_row_norms(q, bq, dp_, qnorms.data(), s, sync);
    const float alpha = metric_ == Metric::L2 ? -2.0f : -1.0f;
    const float beta = 0.0f;
    const cublasComputeType_t compute = fast_ ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    for (std::int64_t c0 = 0; c0 < n_; c0 += bn_max) {
      const int bn = static_cast<int>(std::min(bn_max, n_ - c0));
      // tile[b][j] = alpha * <q_b, x_(c0+j)>: column-major (bn x bq) = X_tile^T (bn x dp) * Q.
      KNNX_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, bn, bq, dp_, &alpha,
                                     data_.data() + c0 * dp_, CUDA_R_32F, dp_, q, CUDA_R_32F, dp_,
                                     &beta, tile.data(), CUDA_R_32F, bn, compute,
                                     CUBLAS_GEMM_DEFAULT));
      launch_tile_select(tile.data(), bq, bn, norms_.data(), c0, kind(), kk, c0 == 0,
                         state_keys.data(), state_rows.data(), s, sync);
    }
    if (fast_) {
      launch_rerank(data_.data(), dp_, q, bq, kind(), state_rows.data(), kk, k, ids_dev, dist, lab,
                    s, sync);
    } else {
      launch_flat_merge(state_keys.data(), state_rows.data(), bq, kk, kind(), k,
                        metric_ == Metric::L2 ? qnorms.data() : nullptr, ids_dev, dist, lab, s,
                        sync);
    }
  }

  int dim_;
  int dp_;
  Metric metric_;
  int device_;
  bool fast_ = false;
  std::int64_t n_ = 0;
  std::int64_t capacity_ = 0;
  std::unique_ptr<StreamContext> main_;  // storage changes (exclusive by contract)
  mutable StreamPool streams_;           // one stream per concurrent search
  DeviceBuffer<float> data_;             // capacity_ x dp_
  DeviceBuffer<float> norms_;            // capacity_
  mutable std::mutex ids_mutex_;
  mutable DeviceBuffer<std::int64_t> ids_dev_;
  mutable std::uint64_t ids_version_ = 0;
};

}  // namespace

std::unique_ptr<detail::FlatBackend> make_flat_backend(int dim, Metric metric, int device) {
  return std::make_unique<FlatCuda>(dim, metric, device);
}

}  // namespace knnx::cuda
