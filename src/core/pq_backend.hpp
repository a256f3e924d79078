// core/pq_backend.hpp — the interfaces IndexPQ and IndexIVFPQ drive; implemented by the CPU
// backend (src/cpu/pq_cpu.cpp, src/cpu/ivf_pq_cpu.cpp) and the CUDA backend
// (src/cuda/pq/pq_cuda.cpp).
//
// Both store product-quantizer codes (ProductQuantizer::code_size() bytes a vector, encoded by
// the index layer) and search by asymmetric distances: a query's lookup tables against the
// codes, summed, then the exact top-k selection. The codebooks come with each search (and, for
// the IVF tables precomputed from them, with prepare()). Arguments arrive validated; host
// pointers everywhere, except that a device backend's search also takes device queries and
// results (as IvfBackend::search).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/id_map.hpp"
#include "core/search_knobs.hpp"
#include "knnx/metric.hpp"
#include "knnx/product_quantizer.hpp"
#include "knnx/range_search.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// How a backend stores the codes: row by row (8-bit codes), or 4-bit codes in the blocks of 32
// of the fast scan (IndexPQFastScan, IndexIVFPQFastScan), whose search quantizes each lookup
// table to 8 bits and returns the distances of the quantized tables, as FAISS's fast scan.
enum class PqLayout { Rows, FastScan4 };

// IndexPQ: codes in row order; ids live in the index layer's IdMap.
class PqBackend {
 public:
  virtual ~PqBackend() = default;

  virtual idx_t size() const = 0;
  // Appends n codes. Strong guarantee: on exception nothing changes.
  virtual void add(idx_t n, const std::uint8_t* codes) = 0;
  // k best rows of each query under pq's asymmetric distances, labelled by `ids` (-1 /
  // empty_distance where fewer than k rows exist); knobs.sel filters by id.
  virtual void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                      const ProductQuantizer& pq, const IdMap& ids,
                      const SearchKnobs& knobs) const = 0;
  // Every row whose asymmetric distance (the one search returns) passes radius (L2: below it;
  // inner product: above it), labelled by `ids`, knobs.sel filtering (Index::range_search).
  virtual RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                         const ProductQuantizer& pq, const IdMap& ids,
                                         const SearchKnobs& knobs) const = 0;
  // Drops the flagged rows (remove[row] != 0), keeping the order of the rest.
  virtual void remove_rows(const std::vector<std::uint8_t>& remove) = 0;
  // Host copy of the codes of rows [row0, row0 + n).
  virtual std::vector<std::uint8_t> codes(idx_t row0, idx_t n) const = 0;
  virtual void reset() = 0;
};

// Largest precomputed L2 table prepare() builds, on any backend (FAISS's default bound,
// precomputed_table_max_bytes, is 2 GiB).
inline constexpr std::size_t kMaxPrecomputedTableBytes = std::size_t{1} << 30;

// IndexIVFPQ: coarse centroids and inverted lists of (code, id), codes encoding the residual of
// each vector from its list's centroid.
class IvfPqBackend {
 public:
  virtual ~IvfPqBackend() = default;

  virtual int n_lists() const = 0;
  // Replaces the centroids (n_lists x dim). Only called while the lists are empty.
  virtual void set_centroids(const float* centroids) = 0;
  // Host copy, n_lists x dim (zeros before set_centroids).
  virtual std::vector<float> centroids() const = 0;
  // The nearest list (by the index metric) of each of n vectors into lists[0..n).
  virtual void assign(idx_t n, const float* x, idx_t* lists) const = 0;
  // Readies searches with pq (trained) over the centroids in place. With use_table, an L2
  // backend precomputes the query-independent part of the per-list tables when they fit its
  // memory bound; without, it drops them (searches build each probed list's tables). Called
  // after training, loading and set_centroids.
  virtual void prepare(const ProductQuantizer& pq, bool use_table) = 0;
  // Whether searches use a precomputed table.
  virtual bool has_precomputed_table() const = 0;

  // Room for each list to reach sizes[l] entries (n_lists values) before its storage moves: an
  // index file's loader, which appends list by list, calls it once with the saved sizes. A hint
  // (the default ignores it); may throw OutOfMemory, changing nothing.
  virtual void reserve_lists(const std::vector<idx_t>& sizes) { (void)sizes; }
  // Appends n codes with their ids to the given lists. Strong guarantee.
  virtual void add(idx_t n, const std::uint8_t* codes, const idx_t* ids, const idx_t* lists) = 0;
  // k best entries of each query's knobs.nprobe nearest lists (nprobe in [1, n_lists]); labels
  // are stored ids, -1 / empty_distance(metric) where fewer than k exist; knobs.sel filters.
  virtual void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                      const ProductQuantizer& pq, const SearchKnobs& knobs) const = 0;
  // Every entry of each query's knobs.nprobe nearest lists whose distance (the one search
  // returns) passes radius, labelled by stored id; knobs.sel filters (Index::range_search).
  virtual RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                         const ProductQuantizer& pq,
                                         const SearchKnobs& knobs) const = 0;

  virtual idx_t size() const = 0;
  virtual std::vector<idx_t> list_sizes() const = 0;
  // Host copies of one list's codes (size x code_size) and ids.
  virtual std::vector<std::uint8_t> list_codes(int list) const = 0;
  virtual std::vector<idx_t> list_ids(int list) const = 0;
  // Removes every entry whose id is in sorted_ids (ascending, unique), keeping the order of
  // the rest; returns how many were removed.
  virtual idx_t remove_ids(const std::vector<idx_t>& sorted_ids) = 0;
  // Empties every list (centroids and tables stay).
  virtual void reset() = 0;
};

}  // namespace knnx::detail
