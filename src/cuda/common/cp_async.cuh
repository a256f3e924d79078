// cuda/common/cp_async.cuh — asynchronous global-to-shared copies (cp.async, sm_80 on): a thread
// queues 16-byte copies, closes them into a group, and waits until at most N of its groups are
// still in flight. Each thread waits for its own copies only: data another thread copied needs a
// barrier as well.
#pragma once

namespace knnx::cuda {

// Copies 16 bytes from gmem to smem (both 16-byte aligned) when pred, else zero-fills the 16
// bytes of smem without reading gmem. "memory": the compiler keeps shared-memory accesses on
// their side of these.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = pred ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace knnx::cuda
