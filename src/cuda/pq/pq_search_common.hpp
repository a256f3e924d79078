// cuda/pq/pq_search_common.hpp — what the GPU product-quantizer backends share (and the
// scalar-quantizer one, cuda/sq/, uses too): the codebooks on the device, code rows staged from
// the host, the k the scans answer, and the scratch and merge of a batch's partial results.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "core/search_knobs.hpp"
#include "cuda/runtime/memory.hpp"
#include "knnx/metric.hpp"
#include "knnx/product_quantizer.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

class StreamContext;

// 32-bit words of one stored code row (code_size bytes rounded up to a multiple of 4).
inline int pq_code_words(int code_size) { return (code_size + 3) / 4; }

// A ProductQuantizer's codebooks on one device, uploaded again only when they change (the
// index passes its quantizer with every search). Thread-safe.
class DeviceCodebook {
 public:
  // The device copy of pq.centroids() (M x 256 x dsub floats), uploaded on ctx's stream and
  // waited for when it differs from the last one. Valid until a different codebook comes.
  const float* get(const ProductQuantizer& pq, StreamContext& ctx);

 private:
  std::mutex mutex_;
  std::vector<float> host_;
  DeviceBuffer<float> device_;
};

// The scans keep each work item's best k in a block selection: a larger k is refused
// (NotSupported naming `index`) before anything runs (the CPU indexes take any k up to kMaxK).
void check_k_in_block_range(int k, const char* index);

// n host codes of code_size bytes copied, queued on s, into dst rows of code_words words
// (padding bytes zeroed).
void upload_code_rows(std::uint32_t* dst, int code_words, const std::uint8_t* codes, int code_size,
                      idx_t n, cudaStream_t s);

// Queries per batch of a PQ or SQ search (`index` names it in errors) whose scratch is
// per_query bytes a query besides `fixed` bytes, within the workspace of knobs (resolved):
// detail::queries_per_batch.
idx_t pq_query_batch(idx_t nq, std::int64_t per_query, std::int64_t fixed,
                     const detail::SearchKnobs& knobs, const char* index, int k);

// Global-memory table slots of a scan whose tables do not fit shared memory: a quarter of the
// workspace, at least one and at most `items`.
std::int64_t pq_global_table_slots(int M, std::int64_t items, std::int64_t workspace_bytes);

// Probed lists one IVF-PQ block scans with one query's table (cuda/pq/pq_kernels.hpp): the
// fewest whose mean_list_rows rows together reach min_rows (so copying the table is small
// beside reading the codes), fewer while the batch's `queries` would not give fill_items
// items (enough blocks to keep every multiprocessor busy); in [1, n_probe].
int pq_lists_per_item(int n_probe, std::int64_t mean_list_rows, std::int64_t queries,
                      std::int64_t fill_items, std::int64_t min_rows);

// A batch's partial results: items x k (key, row) pairs the scan writes.
struct PqPartials {
  DeviceBuffer<std::uint32_t> keys;
  DeviceBuffer<std::int32_t> rows;
};
PqPartials make_pq_partials(std::int64_t items, int k, cudaStream_t s);

}  // namespace knnx::cuda
