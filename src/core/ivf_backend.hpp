// core/ivf_backend.hpp — the interface IndexIVFFlat drives; implemented by the CPU and CUDA
// backends.
//
// A backend owns the coarse centroids and the inverted lists: for each list, its vectors and
// their ids, appended in insertion order. Arguments arrive validated by the index layer.
// Host pointers everywhere unless a method says otherwise (search and add accept device
// pointers on a device backend, like the flat backend).
#pragma once

#include <cstdint>
#include <vector>

#include "core/search_knobs.hpp"
#include "knnx/metric.hpp"
#include "knnx/range_search.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

class IvfBackend {
 public:
  virtual ~IvfBackend() = default;

  virtual int n_lists() const = 0;
  // Replaces the centroids (n_lists x dim, host). Only called while the lists are empty.
  virtual void set_centroids(const float* centroids) = 0;
  virtual std::vector<float> centroids() const = 0;  // host copy, n_lists x dim

  // The nearest list (by the index metric) of each of n vectors, into lists[0..n) (host).
  virtual void assign(idx_t n, const float* x, idx_t* lists) const = 0;

  // Room for each list to reach sizes[l] entries (n_lists values) before its storage moves: an
  // index file's loader, which appends list by list, calls it once with the saved sizes. A hint
  // (the default ignores it); may throw OutOfMemory, changing nothing.
  virtual void reserve_lists(const std::vector<idx_t>& sizes) { (void)sizes; }
  // Appends n vectors with their ids to the given lists (lists[i] in [0, n_lists)).
  // Strong guarantee: on exception (e.g. OutOfMemory) nothing changes.
  virtual void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) = 0;

  // k nearest among the vectors of each query's knobs.nprobe nearest lists (nprobe already in
  // [1, n_lists]); labels are stored ids, -1 / empty_distance(metric) where fewer than k exist.
  // Every setting of the search comes from knobs; the backend keeps no per-search state, so
  // searches may run concurrently with different knobs.
  virtual void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                      const SearchKnobs& knobs) const = 0;
  // Whether search and range_search honour knobs.sel (entries are tested by stored id). The
  // index layer refuses a selector (NotSupported) for a backend without them.
  virtual bool filters() const { return false; }
  // Every entry of each host query's knobs.nprobe nearest lists within radius
  // (Index::range_search's contract). The default throws NotSupported.
  virtual RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                         const SearchKnobs& knobs) const;

  virtual idx_t size() const = 0;
  virtual std::vector<idx_t> list_sizes() const = 0;
  // Host copies of one list's vectors (size x dim) and ids.
  virtual std::vector<float> list_vectors(int list) const = 0;
  virtual std::vector<idx_t> list_ids(int list) const = 0;

  // Removes every entry whose id is in sorted_ids (ascending, unique); keeps the order of the
  // rest of each list. Returns how many entries were removed.
  virtual idx_t remove_ids(const std::vector<idx_t>& sorted_ids) = 0;

  // Empties every list (centroids stay).
  virtual void reset() = 0;

  // Throws InvalidArgument when x[0..n*dim) holds NaN or Inf or a row above the norm bound
  // (check_vectors_host; x may be a device pointer).
  virtual void check_finite(idx_t n, const float* x, const char* what) const = 0;
  virtual void check_queries(idx_t nq, const float* queries) const {
    check_finite(nq, queries, "queries");
  }
};

}  // namespace knnx::detail
