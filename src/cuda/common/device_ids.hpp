// cuda/common/device_ids.hpp — the ids of a device index that labels its rows through an IdMap
// (the flat and IndexPQ backends): a device copy for the merge's row -> id mapping, and the
// rows a search's IDSelector admits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "core/id_map.hpp"
#include "cuda/common/device_filter.hpp"
#include "cuda/runtime/memory.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

class StreamContext;

class DeviceIds {
 public:
  // Device copy of ids, or null while they are the row numbers; uploaded on main's stream (and
  // waited for) when the ids changed since the last call (IdMap::version). Thread-safe; the
  // copy stays valid until the ids change.
  const std::int64_t* get(const detail::IdMap& ids, StreamContext& main) const;
  void release() { device_.release(); }

 private:
  mutable std::mutex mutex_;
  mutable DeviceBuffer<std::int64_t> device_;
  mutable std::uint64_t version_ = 0;
};

// The tables that turn stored ids back into row numbers on the device (candidates named by id,
// re-ranked against the rows: launch_rows_of_ids): the ids ascending and the row of each, or
// none (both null) while the ids are the row numbers. Rebuilt on the host and uploaded on
// main's stream (and waited for) when the ids changed since the last call (IdMap::version).
// Thread-safe; the tables stay valid until the ids change.
class DeviceRowsOfIds {
 public:
  struct Tables {
    const std::int64_t* sorted_ids = nullptr;
    const std::int32_t* rows = nullptr;
  };
  Tables get(const detail::IdMap& ids, StreamContext& main) const;
  void release() {
    sorted_.release();
    rows_.release();
  }

 private:
  mutable std::mutex mutex_;
  mutable DeviceBuffer<std::int64_t> sorted_;
  mutable DeviceBuffer<std::int32_t> rows_;
  mutable std::uint64_t version_ = 0;
};

// The first n rows whose ids (ids.data()) sel admits, evaluated on the host once per search and
// uploaded on s; no filter when sel is null.
DeviceFilter admitted_rows(const detail::IdMap& ids, idx_t n, const IDSelector* sel,
                           cudaStream_t s);

}  // namespace knnx::cuda
