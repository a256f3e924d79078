// CUDA IVF-Flat backend. The centroids live in a CUDA flat backend, which does the coarse
// quantisation (probe selection) with the exact flat kernels. The inverted lists live in a
// DeviceListArena (cuda/ivf/list_arena.hpp) of padded rows, dp floats a row.
#include "cuda/ivf/ivf_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/id_map.hpp"
#include "cuda/common/device_filter.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_search.hpp"
#include "cuda/ivf/list_arena.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
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
        streams_(device) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
    coarse_ = make_flat_backend(dim, metric, device);
    lists_ = std::make_unique<DeviceListArena>(n_lists, dp_, device_, *main_);
  }

  ~IvfCuda() override {
    DeviceGuard guard(device_);
    lists_.reset();
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

  void reserve_lists(const std::vector<idx_t>& sizes) override { lists_->reserve(sizes); }
  void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    DeviceBuffer<float> staged(static_cast<std::size_t>(std::max<idx_t>(n, 1)) * dp_, s);
    copy_rows_padded(staged.data(), dp_, x, dim_, n, s);
    lists_->add(n, reinterpret_cast<const std::uint32_t*>(staged.data()), ids, lists);
  }

  // The stages of a search are in ivf_search.cpp; each search runs on its own stream.
  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& knobs) const override {
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const DeviceFilter filter = lists_->admitted(knobs.sel, lease->stream());
    search_ivf(lists_view(filter), *lease, nq, queries, k, distances, labels, knobs);
  }

  bool filters() const override { return true; }

  // In ivf_search.cpp beside the search, whose stage 1 (coarse quantisation) it shares.
  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::SearchKnobs& knobs) const override {
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const DeviceFilter filter = lists_->admitted(knobs.sel, lease->stream());
    return range_search_ivf(lists_view(filter), *lease, nq, queries, radius, knobs);
  }

  idx_t size() const override { return lists_->size(); }

  std::vector<idx_t> list_sizes() const override { return lists_->sizes(); }

  std::vector<float> list_vectors(int list) const override {
    std::vector<float> out(static_cast<std::size_t>(lists_->sizes()[list]) * dim_);
    lists_->copy_list(list, sizeof(float) * dim_, out.data());
    return out;
  }

  std::vector<idx_t> list_ids(int list) const override { return lists_->list_ids(list); }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    return lists_->remove_ids(sorted_ids);
  }

  void reset() override { lists_->reset(); }

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
            .data = reinterpret_cast<const float*>(lists_->rows()),
            .ids = lists_->ids(),
            .sizes = lists_->device_sizes(),
            .offsets = lists_->device_offsets(),
            .host_sizes = lists_->sizes(),
            .allowed = filter.bits()};
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
  std::unique_ptr<DeviceListArena> lists_;       // rows of dp floats
};

}  // namespace

std::unique_ptr<detail::IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric,
                                                     int device) {
  return std::make_unique<IvfCuda>(dim, n_lists, metric, device);
}

}  // namespace knnx::cuda
