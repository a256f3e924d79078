// core/admitted_bitmap.hpp — an IDSelector evaluated once per search over the stored ids, as a
// bitmap of storage positions, for backends that filter inside their selection kernels.
//
// Bit p (word p >> 5, bit p & 31) is set when the entry stored at position p has an id the
// selector admits. Positions are the backend's own: rows of a flat index, arena rows of an IVF
// index. A device backend uploads the words and tests a candidate's bit before it enters the
// selection, so filtering costs one bit per stored entry of memory and no distance matrix.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// Words a bitmap of n positions takes.
inline std::size_t admitted_words(idx_t n) { return static_cast<std::size_t>((n + 31) / 32); }

// Sets the bits of positions first .. first + n - 1 whose ids (ids[0..n)) sel admits, in
// words, which must hold admitted_words(first + n) words and may be shared with concurrent
// calls on other positions (words at range edges are updated atomically). Evaluates the
// selector on the OpenMP threads for long ranges; is_member must be thread-safe (its contract).
void mark_admitted(const IDSelector& sel, idx_t n, const idx_t* ids, idx_t first,
                   std::uint32_t* words);

}  // namespace knnx::detail
