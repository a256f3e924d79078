// CUDA k-means: the training sample stays on the device; each Lloyd iteration assigns rows with
// the exact GPU flat search (k = 1 over the centroids), reduces the objective on the device,
// and rebuilds the centroids with an atomic sum + mean pass. Only the per-cluster counts come
// back to the host, to split from the largest cluster any that went empty. k-means++ seeding
// runs on the device too: each step updates the D² weights, prefix-sums them (CUB) and draws
// the next centre by binary search, with the uniform draws taken from the seed on the host, over
// init_points_per_centroid random rows per centroid when the sample holds more.
#include "cuda/kmeans/kmeans_cuda.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/id_map.hpp"
#include "core/random.hpp"
#include "core/sampling.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/kmeans/kmeans_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "knnx/config.hpp"

namespace knnx::cuda {
namespace {

// Splits each empty cluster off the largest one: the largest centroid is copied with a small
// symmetric perturbation (FAISS's EPS = 1/1024) and the count is shared between the two.
void split_empty(std::vector<float>& centroids, std::vector<int>& counts, int dim) {
  constexpr float kEps = 1.0f / 1024.0f;
  const int k = static_cast<int>(counts.size());
  for (int c = 0; c < k; ++c) {
    if (counts[c] != 0) continue;
    const int big = static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    float* dst = centroids.data() + static_cast<std::size_t>(c) * dim;
    float* src = centroids.data() + static_cast<std::size_t>(big) * dim;
    for (int j = 0; j < dim; ++j) {
      const float v = src[j];
      dst[j] = v * ((j % 2 == 0) ? 1 + kEps : 1 - kEps);
      src[j] = v * ((j % 2 == 0) ? 1 - kEps : 1 + kEps);
    }
    counts[c] = counts[big] / 2;
    counts[big] -= counts[c];
  }
}

class KMeansCuda final : public detail::KMeansBackend {
 public:
  explicit KMeansCuda(int device) : device_(device) {}

  detail::KMeansResult train(idx_t n, const float* x, int dim, int k, Metric metric,
                             const KMeansParams& params,
                             const std::function<void(int, double)>& on_iteration) override {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    const bool sync = config().sync_check;
    StreamContext ctx(device_);
    const cudaStream_t s = ctx.stream();
    const int dp = (dim + 3) / 4 * 4;

    // The sample, unpadded (for the flat search) and padded (for the float4 kernels).
    DeviceBuffer<float> xs(static_cast<std::size_t>(n) * dim, s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(xs.data(), x, sizeof(float) * n * dim, cudaMemcpyHostToDevice, s));
    DeviceBuffer<float> xp_own;
    const float* xp = xs.data();
    if (dp != dim) {
      xp_own = DeviceBuffer<float>(static_cast<std::size_t>(n) * dp, s);
      launch_pad_rows(xs.data(), n, dim, dim, xp_own.data(), dp, s, sync);
      xp = xp_own.data();
    }
    DeviceBuffer<float> cpad(static_cast<std::size_t>(k) * dp, s);
    KNNX_CUDA_CHECK(cudaMemsetAsync(cpad.data(), 0, sizeof(float) * k * dp, s));

    detail::Rng rng(detail::derive_seed(detail::kKMeansSeedDomain, params.seed,
                                        detail::kKMeansInitStream, 0));
    if (params.init == KMeansParams::Init::Random) {
      const std::vector<idx_t> rows = detail::sample_without_replacement(n, k, rng);
      DeviceBuffer<std::int64_t> rows_dev(rows.size(), s);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(rows_dev.data(), rows.data(), sizeof(std::int64_t) * k,
                                      cudaMemcpyHostToDevice, s));
      launch_gather_rows(xp, dp, rows_dev.data(), k, cpad.data(), s, sync);
      ctx.synchronize();
    } else {
      const idx_t limit = static_cast<idx_t>(k) * params.init_points_per_centroid;
      if (limit > 0 && n > limit) {
        // D² sampling over a random subset of the rows (as on the CPU): each of the k seeding
        // steps is a pass over the rows, so this bounds seeding by k * limit instead of k * n.
        detail::Rng subset_rng(detail::derive_seed(detail::kKMeansSeedDomain, params.seed,
                                                   detail::kKMeansInitStream, 1));
        const std::vector<idx_t> rows = detail::sample_without_replacement(n, limit, subset_rng);
        DeviceBuffer<std::int64_t> rows_dev(rows.size(), s);
        KNNX_CUDA_CHECK(cudaMemcpyAsync(rows_dev.data(), rows.data(), sizeof(std::int64_t) * limit,
                                        cudaMemcpyHostToDevice, s));
        DeviceBuffer<float> subset(static_cast<std::size_t>(limit) * dp, s);
        launch_gather_rows(xp, dp, rows_dev.data(), limit, subset.data(), s, sync);
        seed_plus_plus(subset.data(), limit, dp, k, rng, cpad.data(), ctx, sync);
      } else {
        seed_plus_plus(xp, n, dp, k, rng, cpad.data(), ctx, sync);
      }
    }

    detail::KMeansResult result;
    std::vector<float> host_c(static_cast<std::size_t>(k) * dp);
    std::vector<int> counts(static_cast<std::size_t>(k));
    DeviceBuffer<float> sums(static_cast<std::size_t>(k) * dp, s);
    DeviceBuffer<int> counts_dev(static_cast<std::size_t>(k), s);
    DeviceBuffer<std::int64_t> labels(static_cast<std::size_t>(n), s);
    DeviceBuffer<float> dist(static_cast<std::size_t>(n), s);
    DeviceBuffer<double> objective(1, s);
    DeviceBuffer<float> cunpad(static_cast<std::size_t>(k) * dim, s);
    const detail::IdMap identity;
    const detail::SearchKnobs knobs = detail::default_search_knobs();
    auto flat = make_flat_backend(dim, metric, device_);
    for (int iter = 0; iter < params.n_iter; ++iter) {
      KNNX_CUDA_CHECK(cudaMemcpy2DAsync(cunpad.data(), sizeof(float) * dim, cpad.data(),
                                        sizeof(float) * dp, sizeof(float) * dim,
                                        static_cast<std::size_t>(k), cudaMemcpyDeviceToDevice, s));
      ctx.synchronize();
      flat->reset();
      flat->add(k, cunpad.data());
      flat->search(n, xs.data(), 1, dist.data(), labels.data(), identity, knobs);
      launch_sum(dist.data(), n, objective.data(), s, sync);
      KNNX_CUDA_CHECK(cudaMemsetAsync(sums.data(), 0, sizeof(float) * k * dp, s));
      KNNX_CUDA_CHECK(cudaMemsetAsync(counts_dev.data(), 0, sizeof(int) * k, s));
      launch_centroid_sums(xp, n, dp, labels.data(), sums.data(), counts_dev.data(), s, sync);
      launch_centroid_means(sums.data(), counts_dev.data(), k, dp, params.spherical, cpad.data(), s,
                            sync);
      double obj = 0.0;
      KNNX_CUDA_CHECK(cudaMemcpyAsync(&obj, objective.data(), sizeof(double), cudaMemcpyDeviceToHost, s));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(counts.data(), counts_dev.data(), sizeof(int) * k,
                                      cudaMemcpyDeviceToHost, s));
      ctx.synchronize();
      if (std::find(counts.begin(), counts.end(), 0) != counts.end()) {
        KNNX_CUDA_CHECK(cudaMemcpy(host_c.data(), cpad.data(), sizeof(float) * k * dp,
                                   cudaMemcpyDeviceToHost));
        split_empty(host_c, counts, dp);
        KNNX_CUDA_CHECK(cudaMemcpy(cpad.data(), host_c.data(), sizeof(float) * k * dp,
                                   cudaMemcpyHostToDevice));
      }
      result.objective.push_back(obj);
      if (on_iteration) on_iteration(iter, obj);
    }
    KNNX_CUDA_CHECK(cudaMemcpy2DAsync(host_c.data(), sizeof(float) * dim, cpad.data(),
                                      sizeof(float) * dp, sizeof(float) * dim,
                                      static_cast<std::size_t>(k), cudaMemcpyDeviceToHost, s));
    ctx.synchronize();
    host_c.resize(static_cast<std::size_t>(k) * dim);
    result.centroids = std::move(host_c);
    return result;
  }

  void assign(idx_t n, const float* x, int dim, const float* centroids, int k, Metric metric,
              idx_t* labels, float* distances) const override {
    auto flat = make_flat_backend(dim, metric, device_);
    flat->add(k, centroids);
    std::vector<float> scratch;
    if (!distances) {
      scratch.resize(static_cast<std::size_t>(n));
      distances = scratch.data();
    }
    flat->search(n, x, 1, distances, labels, detail::IdMap(), detail::default_search_knobs());
  }

 private:
  // k-means++ (D² sampling on squared L2 distances) into centroids (k x dp).
  void seed_plus_plus(const float* xp, idx_t n, int dp, int k, detail::Rng& rng, float* centroids,
                      StreamContext& ctx, bool sync) const {
    const cudaStream_t s = ctx.stream();
    DeviceBuffer<float> d2(static_cast<std::size_t>(n), s);
    DeviceBuffer<double> w(static_cast<std::size_t>(n), s);
    DeviceBuffer<double> prefix(static_cast<std::size_t>(n), s);
    DeviceBuffer<std::int64_t> center(1, s);
    KNNX_CUDA_CHECK(cudaMemsetAsync(d2.data(), 0x7F, sizeof(float) * n, s));  // ~3.4e38
    const std::size_t temp_bytes = kmeanspp_scan_temp_bytes(n);
    DeviceBuffer<unsigned char> temp(std::max<std::size_t>(temp_bytes, 1), s);
    const std::int64_t first = static_cast<std::int64_t>(rng.bounded(static_cast<std::uint64_t>(n)));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(center.data(), &first, sizeof(first), cudaMemcpyHostToDevice, s));
    launch_kmeanspp_update(xp, n, dp, center.data(), d2.data(), centroids, 0, s, sync);
    for (int c = 1; c < k; ++c) {
      launch_kmeanspp_prefix(d2.data(), n, w.data(), prefix.data(), temp.data(), temp_bytes, s,
                             sync);
      launch_kmeanspp_draw(prefix.data(), n, rng.uniform(), center.data(), s, sync);
      launch_kmeanspp_update(xp, n, dp, center.data(), d2.data(), centroids, c, s, sync);
    }
    ctx.synchronize();
  }

  int device_;
};

}  // namespace

std::unique_ptr<detail::KMeansBackend> make_kmeans_backend(int device) {
  return std::make_unique<KMeansCuda>(device);
}

}  // namespace knnx::cuda
