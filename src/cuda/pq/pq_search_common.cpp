#include "cuda/pq/pq_search_common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "cuda/pq/pq_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/select/block_select_limits.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {

const float* DeviceCodebook::get(const ProductQuantizer& pq, StreamContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::vector<float>& c = pq.centroids();
  if (device_.data() == nullptr || host_ != c) {
    DeviceBuffer<float> fresh(std::max<std::size_t>(c.size(), 1), ctx.stream());
    KNNX_CUDA_CHECK(cudaMemcpyAsync(fresh.data(), c.data(), sizeof(float) * c.size(),
                                    cudaMemcpyHostToDevice, ctx.stream()));
    std::vector<float> host = c;
    ctx.synchronize();
    device_.swap(fresh);
    host_.swap(host);
  }
  return device_.data();
}

void check_k_in_block_range(int k, const char* index) {
  if (k > kBlockSelectMaxK) {
    throw NotSupported(fmt::format("a GPU {} searches with k <= {}, got {}; search a copy of the "
                                   "index on the CPU for larger k",
                                   index, kBlockSelectMaxK, k));
  }
}

void upload_code_rows(std::uint32_t* dst, int code_words, const std::uint8_t* codes, int code_size,
                      idx_t n, cudaStream_t s) {
  if (n == 0) return;
  const std::size_t pitch = sizeof(std::uint32_t) * static_cast<std::size_t>(code_words);
  if (pitch != static_cast<std::size_t>(code_size)) {
    KNNX_CUDA_CHECK(cudaMemsetAsync(dst, 0, pitch * static_cast<std::size_t>(n), s));
  }
  KNNX_CUDA_CHECK(cudaMemcpy2DAsync(dst, pitch, codes, static_cast<std::size_t>(code_size),
                                    static_cast<std::size_t>(code_size),
                                    static_cast<std::size_t>(n), cudaMemcpyHostToDevice, s));
}

idx_t pq_query_batch(idx_t nq, std::int64_t per_query, std::int64_t fixed,
                     const detail::SearchKnobs& knobs, const char* index, int k) {
  const std::string what = fmt::format("a GPU {} search of k = {}", index, k);
  return detail::queries_per_batch(nq, fixed, per_query, detail::workspace_bound(knobs),
                                   what.c_str());
}

std::int64_t pq_global_table_slots(int M, std::int64_t items, std::int64_t workspace_bytes) {
  const std::int64_t table = static_cast<std::int64_t>(pq_table_bytes(M));
  return std::clamp<std::int64_t>(workspace_bytes / 4 / table, 1, std::max<std::int64_t>(items, 1));
}

int pq_lists_per_item(int n_probe, std::int64_t mean_list_rows, std::int64_t queries,
                      std::int64_t fill_items, std::int64_t min_rows) {
  const std::int64_t rows = std::max<std::int64_t>(mean_list_rows, 1);
  int lists = static_cast<int>(std::clamp<std::int64_t>((min_rows + rows - 1) / rows, 1, n_probe));
  while (lists > 1 && queries * pq_items_per_query(n_probe, lists) < fill_items) --lists;
  return lists;
}

PqPartials make_pq_partials(std::int64_t items, int k, cudaStream_t s) {
  const std::size_t n = static_cast<std::size_t>(std::max<std::int64_t>(items, 1)) * k;
  return {DeviceBuffer<std::uint32_t>(n, s), DeviceBuffer<std::int32_t>(n, s)};
}

}  // namespace knnx::cuda
