// core/stream_group.hpp — a set of device streams with host completion callbacks: what a
// backend offers behind knnx::StreamSet (knnx/streams.hpp), whose contract it follows.
#pragma once

#include <functional>

namespace knnx::detail {

class StreamGroup {
 public:
  virtual ~StreamGroup() = default;  // waits for the streams, then destroys them
  virtual int size() const = 0;
  virtual void* native(int i) const = 0;  // i in [0, size())
  // Runs callback on a runtime thread once the work queued on stream i so far completes;
  // exceptions it throws are dropped.
  virtual void on_complete(int i, std::function<void()> callback) = 0;
  virtual void synchronize() = 0;
};

}  // namespace knnx::detail
