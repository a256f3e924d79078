// cuda/runtime/stream_group.hpp — non-blocking CUDA streams of one device with host completion
// callbacks (the CUDA backend's make_streams; contract in core/stream_group.hpp).
#pragma once

#include <memory>

#include "core/stream_group.hpp"

namespace knnx::cuda {

std::unique_ptr<detail::StreamGroup> make_stream_group(int device, int n);

}  // namespace knnx::cuda
