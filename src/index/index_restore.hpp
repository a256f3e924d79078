// index/index_restore.hpp — rebuilding an index from saved state, for read_index.
//
// A loaded index must equal the saved one: the same rows in the same order, the same lists with
// the same members, and the same next sequential id. The public API cannot promise that
// (add() re-assigns vectors to lists, and ties may go another way; ids removed before saving
// would be handed out again), so read_index uses this entry, a friend of the index classes.
// Callers validate everything first (ids unique and non-negative, vectors finite, lists in
// range).
#pragma once

#include <vector>

#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

struct IndexRestore {
  // The first id add() would assign.
  static idx_t next_id(const IndexFlat& index) { return index.next_sequential_id(); }
  static idx_t next_id(const IndexIVFFlat& index) { return index.next_sequential_id(); }

  // Appends n rows (host memory) to a fresh IndexFlat's storage. Their ids are installed
  // afterwards, all at once, by finish_flat.
  static void append_flat_rows(IndexFlat& index, idx_t n, const float* x);
  // Installs the ids of every row (row order, one per appended row) and makes add() number
  // from next_id (>= every id + 1).
  static void finish_flat(IndexFlat& index, const std::vector<idx_t>& ids, idx_t next_id);

  // Appends n vectors (host memory) with their ids to the given lists of a trained, restoring
  // IndexIVFFlat, in order, without assigning them to lists.
  static void append_ivf_rows(IndexIVFFlat& index, idx_t n, const float* x, const idx_t* ids,
                              const idx_t* lists);
  // Installs the ids of every appended vector (ascending) and makes add() number from next_id.
  static void finish_ivf(IndexIVFFlat& index, const std::vector<idx_t>& sorted_ids,
                         idx_t next_id);
};

}  // namespace knnx::detail
