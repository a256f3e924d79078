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

DeviceFilter admitted_rows(const detail::IdMap& ids, idx_t n, const IDSelector* sel,
                           cudaStream_t s) {
  if (sel == nullptr) return {};
  std::vector<std::uint32_t> words(detail::admitted_words(n), 0);
  detail::mark_admitted(*sel, n, ids.data(), 0, words.data());
  return DeviceFilter(std::move(words), s);
}

}  // namespace knnx::cuda
