// cuda/pq/pq_search_common.hpp — what the two GPU product-quantizer backends share: the
// codebooks on the device, code rows staged from the host, and the scratch and merge of a
// batch's partial results.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

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

// n host codes of code_size bytes copied, queued on s, into dst rows of code_words words
// (padding bytes zeroed).
void upload_code_rows(std::uint32_t* dst, int code_words, const std::uint8_t* codes, int code_size,
                      idx_t n, cudaStream_t s);

// Queries per batch of a PQ search whose scratch is per_query bytes a query besides `fixed`
// bytes, within workspace_bytes (at least one).
idx_t pq_query_batch(idx_t nq, std::int64_t per_query, std::int64_t fixed,
                     std::int64_t workspace_bytes);

// Global-memory table slots of a scan whose tables do not fit shared memory: a quarter of the
// workspace, at least one and at most `items`.
std::int64_t pq_global_table_slots(int M, std::int64_t items, std::int64_t workspace_bytes);

// A batch's partial results: items x k (key, row) pairs the scan writes.
struct PqPartials {
  DeviceBuffer<std::uint32_t> keys;
  DeviceBuffer<std::int32_t> rows;
};
PqPartials make_pq_partials(std::int64_t items, int k, cudaStream_t s);

}  // namespace knnx::cuda
