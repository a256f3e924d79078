#include "cuda/common/device_ids.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/admitted_bitmap.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/stream_pool.hpp"

namespace knnx::cuda {

const std::int64_t* DeviceIds::get(const detail::IdMap& ids, StreamContext& main) const {
  if (ids.is_identity()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!device_.data() || version_ != ids.version() || device_.size() < ids.ids().size()) {
    DeviceBuffer<std::int64_t> fresh(std::max<std::size_t>(ids.ids().size(), 1), main.stream());
    KNNX_CUDA_CHECK(cudaMemcpyAsync(fresh.data(), ids.data(), sizeof(std::int64_t) * ids.size(),
                                    cudaMemcpyHostToDevice, main.stream()));
    main.synchronize();
    device_.swap(fresh);
    version_ = ids.version();
  }
  return device_.data();
}

DeviceRowsOfIds::Tables DeviceRowsOfIds::get(const detail::IdMap& ids, StreamContext& main) const {
  if (ids.is_identity()) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t n = ids.ids().size();
  if (!sorted_.data() || version_ != ids.version() || sorted_.size() < n) {
    std::vector<std::int32_t> order(n);
    for (std::size_t r = 0; r < n; ++r) order[r] = static_cast<std::int32_t>(r);
    const idx_t* id = ids.data();
    std::sort(order.begin(), order.end(),
              [id](std::int32_t a, std::int32_t b) { return id[a] < id[b]; });
    std::vector<std::int64_t> sorted(n);
    for (std::size_t j = 0; j < n; ++j) sorted[j] = id[order[j]];
    DeviceBuffer<std::int64_t> fresh_ids(std::max<std::size_t>(n, 1), main.stream());
    DeviceBuffer<std::int32_t> fresh_rows(std::max<std::size_t>(n, 1), main.stream());
    KNNX_CUDA_CHECK(cudaMemcpyAsync(fresh_ids.data(), sorted.data(), sizeof(std::int64_t) * n,
                                    cudaMemcpyHostToDevice, main.stream()));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(fresh_rows.data(), order.data(), sizeof(std::int32_t) * n,
                                    cudaMemcpyHostToDevice, main.stream()));
    main.synchronize();
    sorted_.swap(fresh_ids);
    rows_.swap(fresh_rows);
    version_ = ids.version();
  }
  return {sorted_.data(), rows_.data()};
}

DeviceFilter admitted_rows(const detail::IdMap& ids, idx_t n, const IDSelector* sel,
                           cudaStream_t s) {
  if (sel == nullptr) return {};
  std::vector<std::uint32_t> words(detail::admitted_words(n), 0);
  detail::mark_admitted(*sel, n, ids.data(), 0, words.data());
  return DeviceFilter(std::move(words), s);
}

}  // namespace knnx::cuda
