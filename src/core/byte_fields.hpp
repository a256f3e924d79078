// core/byte_fields.hpp — fixed-offset fields of the little-endian binary records in index files,
// read and written with memcpy (no alignment or aliasing assumptions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace knnx::detail {

template <typename T>
void put_field(std::uint8_t* p, std::size_t offset, T value) {
  std::memcpy(p + offset, &value, sizeof value);
}

template <typename T>
T get_field(const std::uint8_t* p, std::size_t offset) {
  T value;
  std::memcpy(&value, p + offset, sizeof value);
  return value;
}

}  // namespace knnx::detail
