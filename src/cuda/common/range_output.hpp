// cuda/common/range_output.hpp — where the fill pass of a GPU range search writes
// (range_emit.cuh has the passes): query q's hits go to distances / labels [offsets[q],
// offsets[q] + limits[q]), limits being the count pass's counts; labels are ids[row], or the
// row itself when ids is null. Every pointer is device memory.
#pragma once

#include <cstdint>

namespace knnx::cuda {

struct RangeOutput {
  const std::int64_t* offsets = nullptr;
  const int* limits = nullptr;
  const std::int64_t* ids = nullptr;
  float* distances = nullptr;
  std::int64_t* labels = nullptr;
};

}  // namespace knnx::cuda
