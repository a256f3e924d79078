// cuda/ivf/list_arena.hpp — inverted lists on a device: the storage of the GPU IVF indexes
// (IVF-Flat rows of padded floats, IVF-PQ rows of codes).
//
// One arena of fixed-size rows (row_words 32-bit words each) with per-list capacity: list l
// occupies arena rows [offset[l], offset[l] + size[l]). A list that outgrows its capacity
// triggers a re-layout that gives every list room for half its size again (amortised growth:
// an add costs what it adds, plus a share of O(log n) re-layouts).
// Each row's stored id sits beside it on the device; a host mirror of the sizes and ids serves
// list_ids, remove_ids and filters without device round trips. What a row holds is the owner's
// business: this class appends, removes, copies out and filters rows, nothing else.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda/common/device_filter.hpp"
#include "cuda/runtime/memory.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

class StreamContext;

class DeviceListArena {
 public:
  // n_lists >= 1 lists of rows of row_words >= 1 words on `device`; maintenance runs on
  // `stream` of the owner's context `main` (which must outlive the arena).
  DeviceListArena(int n_lists, int row_words, int device, StreamContext& main);
  ~DeviceListArena();
  DeviceListArena(const DeviceListArena&) = delete;
  DeviceListArena& operator=(const DeviceListArena&) = delete;

  int n_lists() const { return static_cast<int>(sizes_.size()); }
  int row_words() const { return row_words_; }
  idx_t size() const { return total_; }  // entries over all lists
  const std::vector<idx_t>& sizes() const { return sizes_; }
  const std::vector<idx_t>& list_ids(int list) const {
    return host_ids_[static_cast<std::size_t>(list)];
  }

  // Device arrays, valid until the next change: the rows (arena rows x row_words words), the
  // stored id of each arena row, and the lists' sizes and offsets ([n_lists] each).
  const std::uint32_t* rows() const { return rows_.data(); }
  const std::int64_t* ids() const { return ids_.data(); }
  const std::int64_t* device_sizes() const { return dev_sizes_.data(); }
  const std::int64_t* device_offsets() const { return dev_offsets_.data(); }
  // The rows, for an owner that rewrites what they hold in place (on `stream` of main).
  std::uint32_t* mutable_rows() { return rows_.data(); }

  // Appends n rows staged on the device (n x row_words words) with their ids (host) to the
  // given lists (host, each in [0, n_lists)), in input order within a list. Strong guarantee:
  // on exception (OutOfMemory, or InvalidArgument past INT32_MAX entries) nothing changes.
  void add(idx_t n, const std::uint32_t* staged_rows, const idx_t* ids, const idx_t* lists);
  // Room for each list to reach caps[l] entries (n_lists values) without a re-layout: an index
  // file's loader knows every list's final size and appends list by list, which would otherwise
  // re-lay out the whole arena for each new list. Re-lays out once if any list lacks the room.
  // Strong guarantee.
  void reserve(const std::vector<idx_t>& caps);
  // Removes every entry whose id is in sorted_ids (ascending, unique), keeping the order of
  // the rest of each list; returns how many were removed.
  idx_t remove_ids(const std::vector<idx_t>& sorted_ids);
  // Empties every list and gives the memory back.
  void reset();

  // Host copy of the first `bytes` bytes (<= 4 * row_words) of each row of one list, into out
  // (list size x bytes).
  void copy_list(int list, std::size_t bytes, void* out) const;

  // The arena rows whose ids sel admits (core/admitted_bitmap.hpp), evaluated on the host
  // mirror of the ids and uploaded on s; no filter when sel is null.
  DeviceFilter admitted(const IDSelector* sel, cudaStream_t s) const;

 private:
  void upload_layout();
  // Queues the move of every stored row and id into dst_rows / dst_ids at the lists' new
  // offsets (a re-layout), through the position buffers (total_ entries each), and waits.
  void move_stored_rows(const std::vector<idx_t>& offsets, std::uint32_t* dst_rows,
                        std::int64_t* dst_ids, std::int64_t* src_pos, std::int64_t* dst_pos);

  int row_words_;
  int device_;
  StreamContext* main_;
  std::vector<idx_t> sizes_, caps_, offsets_;
  std::vector<std::vector<idx_t>> host_ids_;
  idx_t arena_rows_ = 0;
  idx_t total_ = 0;
  DeviceBuffer<std::uint32_t> rows_;  // arena_rows_ x row_words_
  DeviceBuffer<std::int64_t> ids_;    // arena_rows_
  DeviceBuffer<std::int64_t> dev_sizes_;
  DeviceBuffer<std::int64_t> dev_offsets_;
};

}  // namespace knnx::cuda
