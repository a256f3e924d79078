// index/list_ids.hpp — what the indexes keeping ids in an IdSet beside inverted lists (IVF-Flat,
// the scalar-quantizer indexes) do alike with ids: select them, remove them.
#pragma once

#include <algorithm>
#include <vector>

#include "core/id_set.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// The ids of n_lists lists (list_ids(l) returns list l's ids) that sel admits, list by list.
template <typename ListIds>
std::vector<idx_t> ids_selected_in_lists(int n_lists, const IDSelector& sel,
                                         const ListIds& list_ids) {
  std::vector<idx_t> out;
  for (int l = 0; l < n_lists; ++l) {
    for (idx_t id : list_ids(l)) {
      if (sel.is_member(id)) out.push_back(id);
    }
  }
  return out;
}

// Removes the stored ones of ids[0..n) from the id set and, through remove_sorted(sorted ids)
// (returning how many entries it removed), from the lists; returns that count. The id set's
// update is prepared (may throw), then the lists change, then the update is committed (cannot
// throw).
template <typename RemoveSorted>
idx_t remove_stored_ids(IdSet& set, idx_t n, const idx_t* ids, const RemoveSorted& remove_sorted) {
  std::vector<idx_t> present;
  for (idx_t i = 0; i < n; ++i) {
    if (set.contains(ids[i])) present.push_back(ids[i]);
  }
  if (present.empty()) return 0;
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  IdSet::Erasure erasure = set.prepare_erase(std::move(present));
  const idx_t removed = remove_sorted(erasure.ids);
  set.commit_erase(erasure);
  return removed;
}

}  // namespace knnx::detail
