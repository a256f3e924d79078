// core/flat_backend.hpp — the interface IndexFlat drives; implemented by the CPU and CUDA backends.
//
// A backend stores rows (vectors in insertion order) and answers exact k-NN queries with row
// numbers. Arguments arrive validated by the index layer. The ids of rows live in an IdMap that
// the index layer owns; search receives it so a backend can write ids directly.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/id_map.hpp"
#include "core/search_knobs.hpp"
#include "knnx/metric.hpp"
#include "knnx/range_search.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

class FlatBackend {
 public:
  virtual ~FlatBackend() = default;

  virtual idx_t size() const = 0;
  // Appends n rows. Strong guarantee: on exception (e.g. OutOfMemory) nothing changes.
  virtual void add(idx_t n, const float* x) = 0;
  // Writes nq*k distances and labels (ids from `ids`; -1 / empty_distance where fewer than k
  // rows exist). queries, distances and labels may be host pointers, or device pointers for a
  // device backend.
  // knobs: the settings of this search (precision, workspace bound, tiles, CPU blocks), and
  // knobs.sel, which only a backend whose filters() is true is given.
  virtual void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                      const IdMap& ids, const SearchKnobs& knobs) const = 0;
  // The precision a search of nq queries for k results computes with (IndexFlat::precision_used):
  // Exact, unless knobs ask for Fast and the backend runs it for these sizes.
  virtual FlatPrecision precision_used(idx_t nq, int k, const SearchKnobs& knobs) const {
    (void)nq, (void)k, (void)knobs;
    return FlatPrecision::Exact;
  }
  // Whether search and range_search honour knobs.sel. The index layer refuses a selector
  // (NotSupported) for a backend without them.
  virtual bool filters() const { return false; }
  // Every row within radius of each host query (Index::range_search's contract), labelled by
  // `ids`. The default throws NotSupported.
  virtual RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                         const IdMap& ids, const SearchKnobs& knobs) const;
  // Drops the flagged rows (remove[row] != 0), keeping the order of the rest.
  virtual void remove_rows(const std::vector<std::uint8_t>& remove) = 0;
  virtual void reconstruct(idx_t row, float* out) const = 0;  // out is host memory
  virtual std::vector<float> vectors() const = 0;             // all rows, host copy
  // The rows in host memory (size() x dim, row-major), read in place; null where they are not
  // in host memory (a device backend).
  virtual const float* host_rows() const { return nullptr; }
  // Makes an empty backend serve n rows read in place from host memory (n x dim floats at rows,
  // 4-byte aligned) that `keep` keeps alive: a read-only file mapping (read_index with mmap).
  // add, remove_rows and reset then throw NotSupported and change nothing. The default throws
  // NotSupported: a device backend holds its rows in its own memory.
  virtual void view_rows(idx_t n, const float* rows, std::shared_ptr<const void> keep);
  // Whether the rows are such a view.
  virtual bool rows_viewed() const { return false; }
  // Exact re-ranking of candidates: for each of nq queries, the ids candidates[q * n_cand ...
  // + n_cand) (-1 = none; every other one stored) are scored exactly against the stored rows and
  // the best k written as search() writes them. queries, candidates, distances and labels are
  // device or host memory of a device backend. The default throws NotSupported; the CUDA
  // backend has it (IndexRefineFlat's exact vectors on a device).
  virtual void rerank(idx_t nq, const float* queries, int n_cand, const idx_t* candidates, int k,
                      float* distances, idx_t* labels, const IdMap& ids,
                      const SearchKnobs& knobs) const;
  virtual void reset() = 0;
  // Throws InvalidArgument when x[0..n*dim) holds NaN or Inf or a row above the norm bound
  // (check_vectors_host; x may be a device pointer).
  virtual void check_finite(idx_t n, const float* x, const char* what) const = 0;
  // The same for the queries of a search; a device backend may defer the check into
  // search() itself, on its copy of the queries (then it must throw from there).
  virtual void check_queries(idx_t nq, const float* queries) const {
    check_finite(nq, queries, "queries");
  }
};

}  // namespace knnx::detail
