// cuda/select/radix_key.cuh — order-preserving float <-> uint32 keys for radix selection.
//
// key(a) < key(b) exactly when a < b for all non-NaN floats, so selection can work on
// unsigned integers and resolve the k-th value one byte at a time.
#pragma once

#include <cstdint>

namespace knnx::cuda {

inline constexpr std::uint32_t kKeyMax = 0xFFFFFFFFu;  // sorts after every finite float

__device__ __forceinline__ std::uint32_t float_to_key(float f) {
  const std::uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_to_float(std::uint32_t key) {
  const std::uint32_t u = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
  return __uint_as_float(u);
}

}  // namespace knnx::cuda
