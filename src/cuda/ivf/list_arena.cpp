// DeviceListArena: appends go to each list's end, growing the arena by a re-layout into a fresh
// buffer when a list overflows (every list then gets room to grow by half) or when a loader
// reserves its lists' sizes; removals compact into a fresh arena of the same layout (moving rows
// in place would race). Every allocation happens before anything changes.
#include "cuda/ivf/list_arena.hpp"

#include <algorithm>
#include <climits>

#include "core/admitted_bitmap.hpp"
#include "core/check.hpp"
#include "core/parallel_errors.hpp"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "knnx/config.hpp"

namespace knnx::cuda {
namespace {

template <typename T>
void upload(T* dst, const std::vector<T>& src, cudaStream_t s) {
  if (src.empty()) return;
  KNNX_CUDA_CHECK(
      cudaMemcpyAsync(dst, src.data(), sizeof(T) * src.size(), cudaMemcpyHostToDevice, s));
}

// Offsets of lists laid out one after another with these capacities; returns the rows in all.
idx_t lay_out(const std::vector<idx_t>& caps, std::vector<idx_t>& offsets) {
  idx_t rows = 0;
  for (std::size_t l = 0; l < caps.size(); ++l) {
    offsets[l] = rows;
    rows += caps[l];
  }
  return rows;
}

}  // namespace

DeviceListArena::DeviceListArena(int n_lists, int row_words, int device, StreamContext& main)
    : row_words_(row_words),
      device_(device),
      main_(&main),
      sizes_(static_cast<std::size_t>(n_lists), 0),
      caps_(static_cast<std::size_t>(n_lists), 0),
      offsets_(static_cast<std::size_t>(n_lists), 0),
      host_ids_(static_cast<std::size_t>(n_lists)) {
  DeviceGuard guard(device_);
  upload_layout();
}

DeviceListArena::~DeviceListArena() {
  DeviceGuard guard(device_);
  rows_.release();
  ids_.release();
  dev_sizes_.release();
  dev_offsets_.release();
  cudaStreamSynchronize(main_->stream());
}

void DeviceListArena::add(idx_t n, const std::uint32_t* staged_rows, const idx_t* ids,
                          const idx_t* lists) {
  const idx_t total = total_ + n;
  detail::require(total <= INT32_MAX, "a GPU IVF index holds at most {} vectors, got {} + {}",
                  INT32_MAX, total_, n);
  DeviceGuard guard(device_);
  const cudaStream_t s = main_->stream();
  const bool sync = config().sync_check;
  const int n_lists = this->n_lists();

  // Destination of each new row: its list's end, in input order within a list.
  std::vector<idx_t> new_sizes = sizes_;
  std::vector<idx_t> rank(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) rank[i] = new_sizes[lists[i]]++;
  std::vector<idx_t> caps = caps_;
  bool relayout = false;
  for (int l = 0; l < n_lists; ++l) relayout = relayout || new_sizes[l] > caps[l];
  if (relayout) {
    // A re-layout moves every stored row, so it leaves every list, not only the overflowing
    // ones, room to grow by half: lists of one data set grow at steady shares of the total, so
    // the next re-layout waits until the total has grown by about half, and a build of many
    // batches re-lays out O(log n) times instead of at almost every batch.
    for (int l = 0; l < n_lists; ++l)
      caps[l] = std::max<idx_t>({caps[l], new_sizes[l] + new_sizes[l] / 2, 8});
  }
  std::vector<idx_t> offsets = offsets_;
  const idx_t arena_rows = relayout ? lay_out(caps, offsets) : arena_rows_;

  // Everything that can fail (allocation) happens before the arena changes.
  const std::size_t words = static_cast<std::size_t>(row_words_);
  DeviceBuffer<std::uint32_t> rows;
  DeviceBuffer<std::int64_t> dev_ids;
  if (relayout) {
    rows = DeviceBuffer<std::uint32_t>(
        static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1)) * words, s);
    dev_ids =
        DeviceBuffer<std::int64_t>(static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1)), s);
  }
  DeviceBuffer<std::int64_t> staged_ids(static_cast<std::size_t>(std::max<idx_t>(n, 1)), s);
  // The position buffers hold the moves of one step: the stored rows' on a re-layout, then the
  // new rows'. An add's cost must not grow with what the arena holds unless it re-lays it out
  // (a 100M-vector build adds ~1,500 batches).
  const idx_t moves = std::max({n, relayout ? total_ : idx_t{0}, idx_t{1}});
  DeviceBuffer<std::int64_t> src_pos(static_cast<std::size_t>(moves), s);
  DeviceBuffer<std::int64_t> dst_pos(static_cast<std::size_t>(moves), s);
  DeviceBuffer<std::int64_t> new_dev_sizes(static_cast<std::size_t>(n_lists), s);
  DeviceBuffer<std::int64_t> new_dev_offsets(static_cast<std::size_t>(n_lists), s);
  // Room for the new ids in the host mirror now, so that appending them at the commit cannot
  // throw: the strong guarantee without copying the mirror (O(entries) per add).
  for (int l = 0; l < n_lists; ++l) {
    auto& list_ids = host_ids_[static_cast<std::size_t>(l)];
    if (new_sizes[l] > sizes_[l] && static_cast<idx_t>(list_ids.capacity()) < new_sizes[l]) {
      list_ids.reserve(static_cast<std::size_t>(
          std::max<idx_t>(new_sizes[l], 2 * static_cast<idx_t>(list_ids.capacity()))));
    }
  }

  std::uint32_t* arena = relayout ? rows.data() : rows_.data();
  std::int64_t* arena_ids = relayout ? dev_ids.data() : ids_.data();
  if (relayout) move_stored_rows(offsets, arena, arena_ids, src_pos.data(), dst_pos.data());
  if (n > 0) {
    KNNX_CUDA_CHECK(cudaMemcpyAsync(staged_ids.data(), ids, sizeof(std::int64_t) * n,
                                    cudaMemcpyHostToDevice, s));
  }
  std::vector<std::int64_t> sp(static_cast<std::size_t>(n)), dpv(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) {
    sp[i] = i;
    dpv[i] = offsets[lists[i]] + rank[i];
  }
  upload(src_pos.data(), sp, s);
  upload(dst_pos.data(), dpv, s);
  launch_move_rows(staged_rows, staged_ids.data(), src_pos.data(), arena, arena_ids, dst_pos.data(),
                   n, row_words_, s, sync);
  upload(new_dev_sizes.data(), new_sizes, s);
  upload(new_dev_offsets.data(), offsets, s);
  main_->synchronize();

  // Commit (nothing below throws).
  if (relayout) {
    rows_.swap(rows);
    ids_.swap(dev_ids);
    arena_rows_ = arena_rows;
  }
  for (idx_t i = 0; i < n; ++i) host_ids_[lists[i]].push_back(ids[i]);  // reserved above
  sizes_.swap(new_sizes);
  caps_.swap(caps);
  offsets_.swap(offsets);
  dev_sizes_.swap(new_dev_sizes);
  dev_offsets_.swap(new_dev_offsets);
  total_ = total;
}

void DeviceListArena::move_stored_rows(const std::vector<idx_t>& offsets, std::uint32_t* dst_rows,
                                       std::int64_t* dst_ids, std::int64_t* src_pos,
                                       std::int64_t* dst_pos) {
  if (total_ == 0) return;
  const cudaStream_t s = main_->stream();
  std::vector<std::int64_t> sp, dpv;
  sp.reserve(static_cast<std::size_t>(total_));
  dpv.reserve(static_cast<std::size_t>(total_));
  for (int l = 0; l < n_lists(); ++l) {
    for (idx_t j = 0; j < sizes_[l]; ++j) {
      sp.push_back(offsets_[l] + j);
      dpv.push_back(offsets[l] + j);
    }
  }
  upload(src_pos, sp, s);
  upload(dst_pos, dpv, s);
  launch_move_rows(rows_.data(), ids_.data(), src_pos, dst_rows, dst_ids, dst_pos, total_,
                   row_words_, s, config().sync_check);
  main_->synchronize();  // the position buffers may be reused, sp and dpv go out of scope
}

void DeviceListArena::reserve(const std::vector<idx_t>& caps) {
  const int n_lists = this->n_lists();
  detail::require(static_cast<int>(caps.size()) == n_lists,
                  "reserving lists: {} capacities for {} lists", caps.size(), n_lists);
  bool grow = false;
  for (int l = 0; l < n_lists; ++l) grow = grow || caps[l] > caps_[l];
  if (!grow) return;
  DeviceGuard guard(device_);
  const cudaStream_t s = main_->stream();
  std::vector<idx_t> new_caps = caps_, offsets(static_cast<std::size_t>(n_lists));
  for (int l = 0; l < n_lists; ++l) new_caps[l] = std::max(new_caps[l], caps[l]);
  const idx_t arena_rows = lay_out(new_caps, offsets);
  detail::require(arena_rows <= INT32_MAX, "a GPU IVF index holds at most {} vectors, asked for {}",
                  INT32_MAX, arena_rows);
  for (int l = 0; l < n_lists; ++l) host_ids_[l].reserve(static_cast<std::size_t>(new_caps[l]));
  const auto rows_alloc = static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1));
  DeviceBuffer<std::uint32_t> rows(rows_alloc * static_cast<std::size_t>(row_words_), s);
  DeviceBuffer<std::int64_t> dev_ids(rows_alloc, s);
  const auto moves = static_cast<std::size_t>(std::max<idx_t>(total_, 1));
  DeviceBuffer<std::int64_t> src_pos(moves, s), dst_pos(moves, s);
  DeviceBuffer<std::int64_t> new_dev_offsets(static_cast<std::size_t>(n_lists), s);
  move_stored_rows(offsets, rows.data(), dev_ids.data(), src_pos.data(), dst_pos.data());
  upload(new_dev_offsets.data(), offsets, s);
  main_->synchronize();
  // Commit (nothing below throws).
  rows_.swap(rows);
  ids_.swap(dev_ids);
  arena_rows_ = arena_rows;
  caps_.swap(new_caps);
  offsets_.swap(offsets);
  dev_offsets_.swap(new_dev_offsets);
}

idx_t DeviceListArena::remove_ids(const std::vector<idx_t>& sorted_ids) {
  DeviceGuard guard(device_);
  const cudaStream_t s = main_->stream();
  const int n_lists = this->n_lists();
  std::vector<std::int64_t> sp, dpv;
  std::vector<std::vector<idx_t>> host_ids(static_cast<std::size_t>(n_lists));
  std::vector<idx_t> new_sizes(static_cast<std::size_t>(n_lists), 0);
  idx_t removed = 0;
  for (int l = 0; l < n_lists; ++l) {
    for (idx_t j = 0; j < sizes_[l]; ++j) {
      const idx_t id = host_ids_[l][j];
      if (std::binary_search(sorted_ids.begin(), sorted_ids.end(), id)) {
        ++removed;
        continue;
      }
      sp.push_back(offsets_[l] + j);
      dpv.push_back(offsets_[l] + new_sizes[l]);
      host_ids[l].push_back(id);
      ++new_sizes[l];
    }
  }
  if (removed == 0) return 0;
  // Compact into a fresh arena of the same layout (moving rows in place would race).
  const std::size_t rows = static_cast<std::size_t>(std::max<idx_t>(arena_rows_, 1));
  DeviceBuffer<std::uint32_t> data(rows * static_cast<std::size_t>(row_words_), s);
  DeviceBuffer<std::int64_t> dev_ids(rows, s);
  DeviceBuffer<std::int64_t> src_pos(std::max<std::size_t>(sp.size(), 1), s);
  DeviceBuffer<std::int64_t> dst_pos(std::max<std::size_t>(sp.size(), 1), s);
  DeviceBuffer<std::int64_t> new_dev_sizes(static_cast<std::size_t>(n_lists), s);
  upload(src_pos.data(), sp, s);
  upload(dst_pos.data(), dpv, s);
  launch_move_rows(rows_.data(), ids_.data(), src_pos.data(), data.data(), dev_ids.data(),
                   dst_pos.data(), static_cast<std::int64_t>(sp.size()), row_words_, s,
                   config().sync_check);
  upload(new_dev_sizes.data(), new_sizes, s);
  main_->synchronize();
  rows_.swap(data);
  ids_.swap(dev_ids);
  dev_sizes_.swap(new_dev_sizes);
  host_ids_.swap(host_ids);
  sizes_.swap(new_sizes);
  total_ -= removed;
  return removed;
}

void DeviceListArena::reset() {
  DeviceGuard guard(device_);
  rows_.release();
  ids_.release();
  std::fill(sizes_.begin(), sizes_.end(), 0);
  std::fill(caps_.begin(), caps_.end(), 0);
  std::fill(offsets_.begin(), offsets_.end(), 0);
  for (auto& v : host_ids_) v.clear();
  arena_rows_ = 0;
  total_ = 0;
  upload_layout();
}

void DeviceListArena::copy_list(int list, std::size_t bytes, void* out) const {
  const idx_t m = sizes_[list];
  if (m == 0) return;
  DeviceGuard guard(device_);
  const std::size_t pitch = sizeof(std::uint32_t) * static_cast<std::size_t>(row_words_);
  KNNX_CUDA_CHECK(cudaMemcpy2D(out, bytes,
                               rows_.data() + static_cast<std::size_t>(offsets_[list]) *
                                                  static_cast<std::size_t>(row_words_),
                               pitch, bytes, static_cast<std::size_t>(m), cudaMemcpyDeviceToHost));
}

DeviceFilter DeviceListArena::admitted(const IDSelector* sel, cudaStream_t s) const {
  if (sel == nullptr) return {};
  std::vector<std::uint32_t> words(detail::admitted_words(arena_rows_), 0);
  detail::ParallelErrors errors;
  const int n_lists = this->n_lists();
#pragma omp parallel for schedule(dynamic, 16) if (total_ >= 65536)
  for (int l = 0; l < n_lists; ++l) {
    errors.run([&] {
      detail::mark_admitted(*sel, sizes_[l], host_ids_[l].data(), offsets_[l], words.data());
    });
  }
  errors.rethrow("IDSelector evaluation");
  return DeviceFilter(std::move(words), s);
}

void DeviceListArena::upload_layout() {
  const cudaStream_t s = main_->stream();
  DeviceBuffer<std::int64_t> ds(sizes_.size(), s);
  DeviceBuffer<std::int64_t> dof(offsets_.size(), s);
  upload(ds.data(), sizes_, s);
  upload(dof.data(), offsets_, s);
  main_->synchronize();
  dev_sizes_.swap(ds);
  dev_offsets_.swap(dof);
}

}  // namespace knnx::cuda
