// core/sq_backend.hpp — the interface the scalar-quantizer indexes
// (knnx/index_scalar_quantizer.hpp) drive; implemented by the CPU backend.
//
// A backend owns the lists of codes and their ids, the quantizer, and (when `coarse`) the coarse
// centroids. Without a coarse quantizer there is one list and every search scans it. With
// by_residual, a vector is coded as its residual from its list's centroid. Arguments arrive
// validated by the index layer; host pointers everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/search_knobs.hpp"
#include "knnx/metric.hpp"
#include "knnx/range_search.hpp"
#include "knnx/scalar_quantizer.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

struct SqLayout {
  int dim = 0;
  int n_lists = 1;
  bool coarse = false;  // centroids pick the lists (IVF); otherwise one list
  bool by_residual = false;
  Metric metric = Metric::L2;
  ScalarQuantizer::Type type = ScalarQuantizer::Type::QT_8bit;
};

class SqBackend {
 public:
  virtual ~SqBackend() = default;

  virtual const SqLayout& layout() const = 0;

  // Coarse layouts only. Replaces the centroids (n_lists x dim); only while the lists are empty.
  virtual void set_centroids(const float* centroids) = 0;
  virtual std::vector<float> centroids() const = 0;  // zeros before set_centroids
  virtual bool has_centroids() const = 0;
  // The list of each of n vectors, into lists[0..n) (all 0 without a coarse quantizer).
  virtual void assign(idx_t n, const float* x, idx_t* lists) const = 0;

  // The quantizer codes are made with; installed (trained) while the lists are empty.
  virtual void set_quantizer(const ScalarQuantizer& sq) = 0;
  virtual const std::optional<ScalarQuantizer>& quantizer() const = 0;

  // Room for each list to reach sizes[l] entries (n_lists values) before its storage moves: an
  // index file's loader, which appends list by list, calls it once with the saved sizes. A hint
  // (the default ignores it); may throw OutOfMemory, changing nothing.
  virtual void reserve_lists(const std::vector<idx_t>& sizes) { (void)sizes; }
  // Encodes n vectors (residuals from their lists' centroids when by_residual) and appends them
  // with their ids to lists[i]. Strong guarantee.
  virtual void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) = 0;
  // Appends n ready codes to one list (index files). Strong guarantee.
  virtual void add_codes(int list, idx_t n, const std::uint8_t* codes, const idx_t* ids) = 0;

  // Index::search / range_search over the knobs.nprobe nearest lists (already in
  // [1, n_lists]; ignored without a coarse quantizer), honouring knobs.sel.
  virtual void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                      const SearchKnobs& knobs) const = 0;
  virtual RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                         const SearchKnobs& knobs) const = 0;

  virtual idx_t size() const = 0;
  virtual std::vector<idx_t> list_sizes() const = 0;
  virtual std::vector<idx_t> list_ids(int list) const = 0;
  virtual std::vector<std::uint8_t> list_codes(int list) const = 0;  // size x code_size
  // The decoded vector stored with this id into out[0..dim); false when absent.
  virtual bool reconstruct(idx_t id, float* out) const = 0;

  // Removes every entry whose id is in sorted_ids (ascending, unique); returns how many.
  virtual idx_t remove_ids(const std::vector<idx_t>& sorted_ids) = 0;
  // Empties every list (centroids and quantizer stay).
  virtual void reset() = 0;
};

}  // namespace knnx::detail
