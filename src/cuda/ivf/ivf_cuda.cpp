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
#include <vector>

#include "core/admitted_bitmap.hpp"
#include "core/check.hpp"
#include "core/id_map.hpp"
#include "core/parallel_errors.hpp"
#include "cuda/common/device_filter.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/ivf/ivf_search.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
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

  // The stages of a search are in ivf_search.cpp; each search runs on its own stream.
  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& knobs) const override {
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const DeviceFilter filter = admitted_entries(knobs.sel, lease->stream());
    search_ivf(lists_view(filter), *lease, nq, queries, k, distances, labels, knobs);
  }

  bool filters() const override { return true; }

  // In ivf_search.cpp beside the search, whose stage 1 (coarse quantisation) it shares.
  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::SearchKnobs& knobs) const override {
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const DeviceFilter filter = admitted_entries(knobs.sel, lease->stream());
    return range_search_ivf(lists_view(filter), *lease, nq, queries, radius, knobs);
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
  // What a search reads of the index (ivf_search.hpp), filtered by `filter`.
  IvfLists lists_view(const DeviceFilter& filter) const {
    return {.dim = dim_,
            .dp = dp_,
            .n_lists = n_lists_,
            .metric = metric_,
            .device = device_,
            .coarse = coarse_.get(),
            .data = data_.data(),
            .ids = ids_.data(),
            .sizes = dev_sizes_.data(),
            .offsets = dev_offsets_.data(),
            .host_sizes = sizes_,
            .allowed = filter.bits()};
  }

  // The arena rows whose ids sel admits (core/admitted_bitmap.hpp), evaluated on the host
  // mirror of the ids once per search and uploaded on s; no filter when sel is null.
  DeviceFilter admitted_entries(const IDSelector* sel, cudaStream_t s) const {
    if (sel == nullptr) return {};
    std::vector<std::uint32_t> words(detail::admitted_words(arena_rows_), 0);
    detail::ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 16) if (total_ >= 65536)
    for (int l = 0; l < n_lists_; ++l) {
      errors.run([&] {
        detail::mark_admitted(*sel, sizes_[l], host_ids_[l].data(), offsets_[l], words.data());
      });
    }
    errors.rethrow("IDSelector evaluation");
    return DeviceFilter(std::move(words), s);
  }

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
