// CUDA IVF-Flat backend. The centroids live in a CUDA flat backend, which does the coarse
// quantisation (probe selection) with the exact flat kernels. The inverted lists live in one
// device arena of padded rows with per-list capacity (amortised growth: a list that outgrows
// its capacity triggers a re-layout in which every overflowing list at least doubles). A host
// mirror of the ids serves list_ids, remove and reconstruct without device round trips.
#include "cuda/ivf/ivf_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/check.hpp"
#include "core/id_map.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/flat/flat_kernels.hpp"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/search_results.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/select/merge_tree.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

class IvfCuda final : public detail::IvfBackend {
 public:
  IvfCuda(int dim, int n_lists, Metric metric, int device)
      : dim_(dim),
        dp_((dim + 3) / 4 * 4),
        n_lists_(n_lists),
        metric_(metric),
        device_(device),
        streams_(device),
        sizes_(static_cast<std::size_t>(n_lists), 0),
        caps_(static_cast<std::size_t>(n_lists), 0),
        offsets_(static_cast<std::size_t>(n_lists), 0),
        host_ids_(static_cast<std::size_t>(n_lists)) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
    coarse_ = make_flat_backend(dim, metric, device);
    upload_layout();
  }

  ~IvfCuda() override {
    DeviceGuard guard(device_);
    data_.release();
    ids_.release();
    dev_sizes_.release();
    dev_offsets_.release();
    cudaStreamSynchronize(main_->stream());
  }

  int n_lists() const override { return n_lists_; }

  void set_centroids(const float* centroids) override {
    coarse_->reset();
    coarse_->add(n_lists_, centroids);
  }

  std::vector<float> centroids() const override { return coarse_->vectors(); }

  void assign(idx_t n, const float* x, idx_t* lists) const override {
    std::vector<float> dist(static_cast<std::size_t>(n));
    coarse_->search(n, x, 1, dist.data(), lists, identity_, detail::default_search_knobs());
  }

  void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) override {
    const idx_t total = total_ + n;
    detail::require(total <= INT32_MAX, "a GPU IVF index holds at most {} vectors, got {} + {}",
                    INT32_MAX, total_, n);
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const bool sync = config().sync_check;

    // Destination of each new vector: its list's end, in input order within a list.
    std::vector<idx_t> new_sizes = sizes_;
    std::vector<idx_t> rank(static_cast<std::size_t>(n));
    for (idx_t i = 0; i < n; ++i) rank[i] = new_sizes[lists[i]]++;
    std::vector<idx_t> caps = caps_;
    bool relayout = false;
    for (int l = 0; l < n_lists_; ++l) {
      if (new_sizes[l] > caps[l]) {
        caps[l] = std::max<idx_t>({new_sizes[l], 2 * caps[l], 8});
        relayout = true;
      }
    }
    std::vector<idx_t> offsets = offsets_;
    idx_t arena_rows = arena_rows_;
    if (relayout) {
      arena_rows = 0;
      for (int l = 0; l < n_lists_; ++l) {
        offsets[l] = arena_rows;
        arena_rows += caps[l];
      }
    }

    // Everything that can fail (allocation) happens before the index changes.
    DeviceBuffer<float> data;
    DeviceBuffer<std::int64_t> dev_ids;
    if (relayout) {
      data = DeviceBuffer<float>(static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1)) * dp_, s);
      dev_ids =
          DeviceBuffer<std::int64_t>(static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1)), s);
    }
    DeviceBuffer<float> staged(static_cast<std::size_t>(n) * dp_, s);
    DeviceBuffer<std::int64_t> staged_ids(static_cast<std::size_t>(n), s);
    DeviceBuffer<std::int64_t> src_pos(static_cast<std::size_t>(std::max(n, total_)), s);
    DeviceBuffer<std::int64_t> dst_pos(static_cast<std::size_t>(std::max(n, total_)), s);
    DeviceBuffer<std::int64_t> new_dev_sizes(static_cast<std::size_t>(n_lists_), s);
    DeviceBuffer<std::int64_t> new_dev_offsets(static_cast<std::size_t>(n_lists_), s);

    float* arena = relayout ? data.data() : data_.data();
    std::int64_t* arena_ids = relayout ? dev_ids.data() : ids_.data();
    if (relayout && total_ > 0) {
      std::vector<std::int64_t> sp, dpv;
      sp.reserve(static_cast<std::size_t>(total_));
      dpv.reserve(static_cast<std::size_t>(total_));
      for (int l = 0; l < n_lists_; ++l) {
        for (idx_t j = 0; j < sizes_[l]; ++j) {
          sp.push_back(offsets_[l] + j);
          dpv.push_back(offsets[l] + j);
        }
      }
      upload(src_pos.data(), sp, s);
      upload(dst_pos.data(), dpv, s);
      launch_move_rows(data_.data(), ids_.data(), src_pos.data(), arena, arena_ids, dst_pos.data(),
                       total_, dp_, s, sync);
      main_->synchronize();  // the position buffers are reused below
    }
    copy_rows_padded(staged.data(), dp_, x, dim_, n, s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(staged_ids.data(), ids, sizeof(std::int64_t) * n,
                                    cudaMemcpyHostToDevice, s));
    std::vector<std::int64_t> sp(static_cast<std::size_t>(n)), dpv(static_cast<std::size_t>(n));
    for (idx_t i = 0; i < n; ++i) {
      sp[i] = i;
      dpv[i] = offsets[lists[i]] + rank[i];
    }
    upload(src_pos.data(), sp, s);
    upload(dst_pos.data(), dpv, s);
    launch_move_rows(staged.data(), staged_ids.data(), src_pos.data(), arena, arena_ids,
                     dst_pos.data(), n, dp_, s, sync);
    upload(new_dev_sizes.data(), new_sizes, s);
    upload(new_dev_offsets.data(), offsets, s);
    main_->synchronize();

    // Commit (nothing below throws except host allocation, done first).
    std::vector<std::vector<idx_t>> host_ids = host_ids_;
    for (idx_t i = 0; i < n; ++i) host_ids[lists[i]].push_back(ids[i]);
    if (relayout) {
      data_.swap(data);
      ids_.swap(dev_ids);
      arena_rows_ = arena_rows;
    }
    host_ids_.swap(host_ids);
    sizes_.swap(new_sizes);
    caps_.swap(caps);
    offsets_.swap(offsets);
    dev_sizes_.swap(new_dev_sizes);
    dev_offsets_.swap(new_dev_offsets);
    total_ = total;
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& knobs) const override {
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const cudaStream_t s = lease->stream();
    const bool sync = knobs.sync_check;
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    const bool queries_on_device = is_device_pointer(queries);
    // Queries on the device, padded, and checked there for NaN/Inf into a pinned flag, read
    // after the synchronisation that precedes the coarse search (padding is zero).
    DeviceBuffer<float> qbuf(static_cast<std::size_t>(nq) * dp_, s);
    copy_rows_padded(qbuf.data(), dp_, queries, dim_, nq, s);
    volatile unsigned long long* bad = lease->pinned_flag();
    *bad = 0;
    launch_flag_nonfinite(qbuf.data(), nq * dp_, lease->pinned_flag(), s, sync);
    DeviceBuffer<float> cdist(static_cast<std::size_t>(nq) * n_probe, s);
    DeviceBuffer<std::int64_t> probes(static_cast<std::size_t>(nq) * n_probe, s);
    // The coarse search runs on a stream of the flat backend's own: the padded queries and the
    // output buffers must exist before it starts, and it synchronises before returning.
    lease->synchronize();
    detail::require_not_flagged(*bad != 0, !queries_on_device, nq, dim_, queries, "queries");
    coarse_->search(nq, qbuf.data(), n_probe, cdist.data(), probes.data(), identity_, knobs);

    DeviceBuffer<std::int32_t> prefix(static_cast<std::size_t>(nq) * (n_probe + 1), s);
    launch_probe_prefix(probes.data(), static_cast<int>(nq), n_probe, dev_sizes_.data(),
                        prefix.data(), s, sync);

    const SearchResults results(distances, labels, static_cast<std::size_t>(nq) * k, s);
    float* dist = results.distances();
    std::int64_t* lab = results.labels();
    const ScoreKind kind = metric_ == Metric::L2 ? ScoreKind::L2 : ScoreKind::InnerProduct;
    // No query has more candidates than the n_probe largest lists hold.
    std::vector<idx_t> sorted = sizes_;
    std::partial_sort(sorted.begin(), sorted.begin() + n_probe, sorted.end(), std::greater<>());
    const idx_t max_cand =
        std::max<idx_t>(1, std::accumulate(sorted.begin(), sorted.begin() + n_probe, idx_t(0)));
    const double queries_per_list = double(nq) * n_probe / n_lists_;
    const bool shared = k <= kSharedMaxK && (knobs.ivf_shared == 1 ||
                                             (knobs.ivf_shared == -1 && queries_per_list >= 4.0));
    if (shared && knobs.ivf_fused) {
      // List-major: each probed list is read once per group of queries that probe it.
      const std::size_t slots = static_cast<std::size_t>(nq) * n_probe;
      DeviceBuffer<int> counts(static_cast<std::size_t>(n_lists_) + 1, s);
      DeviceBuffer<int> starts(static_cast<std::size_t>(n_lists_) + 1, s);
      DeviceBuffer<int> cursor(static_cast<std::size_t>(n_lists_), s);
      DeviceBuffer<int> pairs(slots, s);
      const std::size_t temp_bytes = list_major_scan_temp_bytes(n_lists_);
      DeviceBuffer<unsigned char> temp(temp_bytes, s);
      build_list_major(probes.data(), static_cast<int>(nq), n_probe, n_lists_, counts.data(),
                       starts.data(), cursor.data(), pairs.data(), temp.data(), temp_bytes, s,
                       sync);
      DeviceBuffer<float> qnorms(static_cast<std::size_t>(nq), s);
      launch_row_norms(qbuf.data(), nq, dp_, qnorms.data(), s, sync);
      // Work items per group of queries probing a list and per piece of a long list, planned
      // from the per-list query counts (read back: a few KiB), so neither a list that many
      // queries probe nor a long list holds up the scan in one block.
      std::vector<int> host_starts(static_cast<std::size_t>(n_lists_) + 1);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(host_starts.data(), starts.data(),
                                      sizeof(int) * host_starts.size(), cudaMemcpyDeviceToHost, s));
      lease->synchronize();
      const SharedScanPlan plan =
          plan_shared_scan(host_starts, sizes_, device_properties(device_).multiProcessorCount,
                           knobs.ivf_rows_per_chunk);
      const std::size_t n_items = plan.items.size();
      DeviceBuffer<SharedScanItem> items(std::max<std::size_t>(n_items, 1), s);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(items.data(), plan.items.data(),
                                      sizeof(SharedScanItem) * n_items, cudaMemcpyHostToDevice, s));
      const std::size_t partials = slots * plan.chunks * k;
      DeviceBuffer<std::uint32_t> keys(partials, s);
      DeviceBuffer<std::int32_t> rows(partials, s);
      // Partials no item writes (a list cut into fewer pieces than another) read as empty:
      // key kKeyMax, row -1, both all-ones bytes.
      KNNX_CUDA_CHECK(cudaMemsetAsync(keys.data(), 0xFF, sizeof(std::uint32_t) * partials, s));
      KNNX_CUDA_CHECK(cudaMemsetAsync(rows.data(), 0xFF, sizeof(std::int32_t) * partials, s));
      launch_ivf_shared_scan(data_.data(), dp_, qbuf.data(), qnorms.data(), n_probe,
                             static_cast<int>(n_items), items.data(), plan.rows_per_item,
                             plan.chunks, starts.data(), pairs.data(), dev_sizes_.data(),
                             dev_offsets_.data(), kind, k, keys.data(), rows.data(), s, sync);
      merge_partials(std::move(keys), std::move(rows), static_cast<int>(nq),
                     n_probe * plan.chunks * k, k, kind, nullptr, ids_.data(), dist, lab, s, sync);
    } else if (knobs.ivf_fused) {
      // Enough blocks to fill the device: split long candidate lists below the knob's bound.
      const int sms = device_properties(device_).multiProcessorCount;
      const idx_t want_chunks = std::max<idx_t>(1, (4LL * sms + nq - 1) / nq);
      const int rows_per_chunk = static_cast<int>(std::clamp<idx_t>(
          (max_cand + want_chunks - 1) / want_chunks, 256, knobs.ivf_rows_per_chunk));
      const int chunks = static_cast<int>((max_cand + rows_per_chunk - 1) / rows_per_chunk);
      DeviceBuffer<std::uint32_t> keys(static_cast<std::size_t>(nq) * chunks * k, s);
      DeviceBuffer<std::int32_t> rows(static_cast<std::size_t>(nq) * chunks * k, s);
      launch_ivf_scan(data_.data(), dp_, qbuf.data(), static_cast<int>(nq), probes.data(),
                      prefix.data(), n_probe, dev_offsets_.data(), kind, k, chunks, rows_per_chunk,
                      knobs.ivf_tpb, keys.data(), rows.data(), s, sync);
      merge_partials(std::move(keys), std::move(rows), static_cast<int>(nq), chunks * k, k, kind,
                     nullptr, ids_.data(), dist, lab, s, sync);
    } else {
      DeviceBuffer<std::uint32_t> keys(static_cast<std::size_t>(nq) * max_cand, s);
      DeviceBuffer<std::int32_t> rows(static_cast<std::size_t>(nq) * max_cand, s);
      launch_ivf_distances(data_.data(), dp_, qbuf.data(), static_cast<int>(nq), probes.data(),
                           prefix.data(), n_probe, dev_offsets_.data(), kind,
                           static_cast<int>(max_cand), keys.data(), rows.data(), s, sync);
      merge_partials(std::move(keys), std::move(rows), static_cast<int>(nq),
                     static_cast<int>(max_cand), k, kind, nullptr, ids_.data(), dist, lab, s, sync);
    }
    results.finish(s);
    lease->synchronize();
  }

  idx_t size() const override { return total_; }

  std::vector<idx_t> list_sizes() const override { return sizes_; }

  std::vector<float> list_vectors(int list) const override {
    DeviceGuard guard(device_);
    const idx_t m = sizes_[list];
    std::vector<float> out(static_cast<std::size_t>(m) * dim_);
    if (m > 0) {
      KNNX_CUDA_CHECK(cudaMemcpy2D(out.data(), sizeof(float) * dim_,
                                   data_.data() + offsets_[list] * dp_, sizeof(float) * dp_,
                                   sizeof(float) * dim_, static_cast<std::size_t>(m),
                                   cudaMemcpyDeviceToHost));
    }
    return out;
  }

  std::vector<idx_t> list_ids(int list) const override { return host_ids_[list]; }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    std::vector<std::int64_t> sp, dpv;
    std::vector<std::vector<idx_t>> host_ids(static_cast<std::size_t>(n_lists_));
    std::vector<idx_t> new_sizes(static_cast<std::size_t>(n_lists_), 0);
    idx_t removed = 0;
    for (int l = 0; l < n_lists_; ++l) {
      for (idx_t j = 0; j < sizes_[l]; ++j) {
        const idx_t id = host_ids_[l][j];
        if (std::binary_search(sorted_ids.begin(), sorted_ids.end(), id)) {
          ++removed;
          continue;
        }
        sp.push_back(offsets_[l] + j);
        dpv.push_back(offsets_[l] + new_sizes[l]);
        host_ids[l].push_back(id);
        ++new_sizes[l];
      }
    }
    if (removed == 0) return 0;
    // Compact into a fresh arena of the same layout (moving rows in place would race).
    const std::size_t rows = static_cast<std::size_t>(std::max<idx_t>(arena_rows_, 1));
    DeviceBuffer<float> data(rows * dp_, s);
    DeviceBuffer<std::int64_t> dev_ids(rows, s);
    DeviceBuffer<std::int64_t> src_pos(std::max<std::size_t>(sp.size(), 1), s);
    DeviceBuffer<std::int64_t> dst_pos(std::max<std::size_t>(sp.size(), 1), s);
    DeviceBuffer<std::int64_t> new_dev_sizes(static_cast<std::size_t>(n_lists_), s);
    upload(src_pos.data(), sp, s);
    upload(dst_pos.data(), dpv, s);
    launch_move_rows(data_.data(), ids_.data(), src_pos.data(), data.data(), dev_ids.data(),
                     dst_pos.data(), static_cast<std::int64_t>(sp.size()), dp_, s,
                     config().sync_check);
    upload(new_dev_sizes.data(), new_sizes, s);
    main_->synchronize();
    data_.swap(data);
    ids_.swap(dev_ids);
    dev_sizes_.swap(new_dev_sizes);
    host_ids_.swap(host_ids);
    sizes_.swap(new_sizes);
    total_ -= removed;
    return removed;
  }

  void reset() override {
    DeviceGuard guard(device_);
    data_.release();
    ids_.release();
    std::fill(sizes_.begin(), sizes_.end(), 0);
    std::fill(caps_.begin(), caps_.end(), 0);
    std::fill(offsets_.begin(), offsets_.end(), 0);
    for (auto& v : host_ids_) v.clear();
    arena_rows_ = 0;
    total_ = 0;
    upload_layout();
  }

  void check_finite(idx_t n, const float* x, const char* what) const override {
    coarse_->check_finite(n, x, what);
  }

  void check_queries(idx_t, const float*) const override {
    // Queries are checked inside search(), on its stream.
  }

 private:
  template <typename T>
  static void upload(T* dst, const std::vector<T>& src, cudaStream_t s) {
    if (src.empty()) return;
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(dst, src.data(), sizeof(T) * src.size(), cudaMemcpyHostToDevice, s));
  }

  void upload_layout() {
    const cudaStream_t s = main_->stream();
    DeviceBuffer<std::int64_t> ds(static_cast<std::size_t>(n_lists_), s);
    DeviceBuffer<std::int64_t> dof(static_cast<std::size_t>(n_lists_), s);
    upload(ds.data(), sizes_, s);
    upload(dof.data(), offsets_, s);
    main_->synchronize();
    dev_sizes_.swap(ds);
    dev_offsets_.swap(dof);
  }

  int dim_;
  int dp_;
  int n_lists_;
  Metric metric_;
  int device_;
  mutable StreamPool streams_;
  std::unique_ptr<StreamContext> main_;
  std::unique_ptr<detail::FlatBackend> coarse_;  // the centroids
  detail::IdMap identity_;                       // centroid ids are list numbers
  std::vector<idx_t> sizes_, caps_, offsets_;
  std::vector<std::vector<idx_t>> host_ids_;
  idx_t arena_rows_ = 0;
  idx_t total_ = 0;
  DeviceBuffer<float> data_;        // arena_rows_ x dp_
  DeviceBuffer<std::int64_t> ids_;  // arena_rows_
  DeviceBuffer<std::int64_t> dev_sizes_;
  DeviceBuffer<std::int64_t> dev_offsets_;
};

}  // namespace

std::unique_ptr<detail::IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric,
                                                     int device) {
  return std::make_unique<IvfCuda>(dim, n_lists, metric, device);
}

}  // namespace knnx::cuda
