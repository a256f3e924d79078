// cuda/common/admitted.cuh — the device side of a search filter: whether a stored position is
// admitted, read from the bitmap core/admitted_bitmap.hpp builds (bit p of word p >> 5).
//
// Scan kernels take the bitmap as a pointer and a template flag: their unfiltered instances
// (kFiltered = false) never read it, so filtering costs the unfiltered search nothing.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace knnx::cuda {

__device__ __forceinline__ bool admitted(const std::uint32_t* __restrict__ bits, std::int64_t pos) {
  return (__ldg(bits + (pos >> 5)) >> (pos & 31)) & 1u;
}

// Calls f(std::bool_constant<filtered>{}): a launcher's choice of kernel instance.
template <typename F>
decltype(auto) dispatch_filtered(bool filtered, F&& f) {
  if (filtered) return f(std::true_type{});
  return f(std::false_type{});
}
// The same for a bitmap of admitted rows: filtered when there is one.
template <typename F>
decltype(auto) dispatch_filtered(const std::uint32_t* bits, F&& f) {
  return dispatch_filtered(bits != nullptr, std::forward<F>(f));
}

}  // namespace knnx::cuda
