// Chunked search of host queries through a CUDA index, copies overlapped with the searches
// (Backend::search_in_chunks; knnx::search_batched_async runs on it).
#include "cuda/multi/batched_search.hpp"

#include <algorithm>
#include <cstring>
#include <future>

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"

namespace knnx::cuda {

// Double-buffered pipeline: chunk c uses buffer c % 2. The copy stream carries, in order,
// H2D(c+1), D2H(c-1) and its host callback, all running while chunk c is searched on the
// index's own stream; events tell the worker when a buffer may be reused.
void search_in_chunks(int device, idx_t nq, idx_t d, int k, idx_t chunk, const float* queries,
                      float* distances, idx_t* labels, const detail::Backend::ChunkSearch& search,
                      const detail::Backend::ChunkDelivered& delivered) {
  DeviceGuard guard(device);
  init_device_pool(device);
  StreamContext ctx(device);
  const cudaStream_t copy = ctx.stream();
  const std::size_t qn = static_cast<std::size_t>(chunk * d);
  const std::size_t rn = static_cast<std::size_t>(chunk * k);
  PinnedBuffer<float> pq[2] = {PinnedBuffer<float>(qn), PinnedBuffer<float>(qn)};
  PinnedBuffer<float> pd[2] = {PinnedBuffer<float>(rn), PinnedBuffer<float>(rn)};
  PinnedBuffer<idx_t> pl[2] = {PinnedBuffer<idx_t>(rn), PinnedBuffer<idx_t>(rn)};
  DeviceBuffer<float> dq[2] = {{qn, copy}, {qn, copy}};
  DeviceBuffer<float> dd[2] = {{rn, copy}, {rn, copy}};
  DeviceBuffer<idx_t> dl[2] = {{rn, copy}, {rn, copy}};
  const cudaEvent_t q_ready[2] = {ctx.event(0), ctx.event(1)};
  const cudaEvent_t results_read[2] = {ctx.event(2), ctx.event(3)};
  const idx_t chunks = (nq + chunk - 1) / chunk;

  auto upload = [&](idx_t c) {
    DeviceGuard upload_guard(device);  // the current device is per host thread
    const int b = static_cast<int>(c % 2);
    const idx_t first = c * chunk;
    const idx_t count = std::min(chunk, nq - first);
    std::memcpy(pq[b].data(), queries + first * d,
                static_cast<std::size_t>(count * d) * sizeof(float));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(dq[b].data(), pq[b].data(),
                                    static_cast<std::size_t>(count * d) * sizeof(float),
                                    cudaMemcpyHostToDevice, copy));
    KNNX_CUDA_CHECK(cudaEventRecord(q_ready[b], copy));
  };

  try {
    upload(0);
    for (idx_t c = 0; c < chunks; ++c) {
      const int b = static_cast<int>(c % 2);
      const idx_t first = c * chunk;
      const idx_t count = std::min(chunk, nq - first);
      KNNX_CUDA_CHECK(cudaEventSynchronize(q_ready[b]));
      if (c >= 2) KNNX_CUDA_CHECK(cudaEventSynchronize(results_read[b]));
      // Chunk c+1 is staged (host copy into pinned memory, then H2D) by a helper thread while
      // this one searches chunk c; buffer 1-b was last read by the finished search c-1.
      std::future<void> next;
      if (c + 1 < chunks) next = std::async(std::launch::async, upload, c + 1);
      try {
        search(count, dq[b].data(), dd[b].data(), dl[b].data());
      } catch (...) {
        if (next.valid()) next.wait();
        throw;
      }
      if (next.valid()) next.get();
      const std::size_t bytes_d = static_cast<std::size_t>(count * k) * sizeof(float);
      const std::size_t bytes_l = static_cast<std::size_t>(count * k) * sizeof(idx_t);
      KNNX_CUDA_CHECK(
          cudaMemcpyAsync(pd[b].data(), dd[b].data(), bytes_d, cudaMemcpyDeviceToHost, copy));
      KNNX_CUDA_CHECK(
          cudaMemcpyAsync(pl[b].data(), dl[b].data(), bytes_l, cudaMemcpyDeviceToHost, copy));
      KNNX_CUDA_CHECK(cudaEventRecord(results_read[b], copy));
      float* out_d = distances + first * k;
      idx_t* out_l = labels + first * k;
      const float* src_d = pd[b].data();
      const idx_t* src_l = pl[b].data();
      on_stream_complete(copy, [=, &delivered] {
        std::memcpy(out_d, src_d, bytes_d);
        std::memcpy(out_l, src_l, bytes_l);
        delivered(first, count);
      });
    }
    ctx.synchronize();  // the last copies and callbacks
  } catch (...) {
    cudaStreamSynchronize(copy);  // no callback may outlive the staging buffers
    throw;
  }
}

}  // namespace knnx::cuda
