// knnx/add_options.hpp — AddOptions: how Index::add / add_with_ids split one call into chunks
// and report its progress (knnx/index.hpp states what a chunked add guarantees).
#pragma once

#include <functional>

#include "knnx/types.hpp"

namespace knnx {

// Called after each chunk went in, with the rows added so far by this call and the call's n.
// It runs on the adding thread while the caller still holds the index's writer lock: it may read
// the index but must not change it. An exception it throws ends the add, which is then undone.
using AddProgress = std::function<void(idx_t added, idx_t n)>;

struct AddOptions {
  // Rows per chunk, >= 0; 0 (the default) or >= n adds the call in one piece.
  idx_t chunk_size = 0;
  AddProgress progress;  // may be empty
};

}  // namespace knnx
