// index/index_restore.hpp — rebuilding an index from saved state, for read_index.
//
// A loaded index must equal the saved one: the same rows in the same order, the same lists with
// the same members, and the same next sequential id. The public API cannot promise that
// (add() re-assigns vectors to lists, and ties may go another way; ids removed before saving
// would be handed out again), so read_index uses this entry, a friend of the index classes.
// Callers validate everything first (ids unique and non-negative, vectors finite, lists in
// range). Transforms get their trained state (matrices, eigenvalues, objective) the same way,
// and an IndexPreTransform its id counter.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/transform.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

struct IndexRestore {
  // The first id add() would assign.
  static idx_t next_id(const IndexFlat& index) { return index.next_sequential_id(); }
  static idx_t next_id(const IndexIVFFlat& index) { return index.next_sequential_id(); }
  static idx_t next_id(const IndexPQ& index) { return index.next_sequential_id(); }
  static idx_t next_id(const IndexIVFPQ& index) { return index.next_sequential_id(); }
  static idx_t next_id(const IndexPreTransform& index) { return index.next_id_; }
  static idx_t next_id(const IndexRefineFlat& index) { return index.next_sequential_id(); }
  // Gives an empty IndexRefineFlat (made around an empty stand-in base, and maybe already
  // wrapped, which needs it empty) a filled base index and refine index holding the same
  // sorted_ids (the caller checked dims, metrics and counts); its add() numbers from next_id.
  static void fill_refine(IndexRefineFlat& index, std::unique_ptr<Index> base,
                          std::unique_ptr<IndexFlat> refine, const std::vector<idx_t>& sorted_ids,
                          idx_t next_id);
  static idx_t next_id(const IndexScalarQuantizerBase& index) { return index.next_sequential_id(); }
  // Makes the wrapper's add() number from next_id.
  static void set_next_id(IndexPreTransform& index, idx_t next_id) { index.next_id_ = next_id; }

  // B of y = A (x - mean), x = B y + mean (d_in x d_out; empty when not reversible).
  static const std::vector<float>& reverse_matrix(const LinearTransform& t) {
    return t.reverse_matrix_;
  }
  // Installs a trained linear map (as LinearTransform::set_linear; an empty mean is zero).
  static void set_linear(LinearTransform& t, std::vector<float> matrix, std::vector<float> mean,
                         std::vector<float> reverse_matrix) {
    t.set_linear(std::move(matrix), std::move(mean), std::move(reverse_matrix));
  }
  // A RandomRotation whose matrix is not drawn; set_linear installs the saved one.
  static std::shared_ptr<RandomRotation> undrawn_rotation(int d_in, int d_out, std::uint64_t seed,
                                                          Device device) {
    return std::shared_ptr<RandomRotation>(
        new RandomRotation(RandomRotation::NotDrawn{}, d_in, d_out, seed, device));
  }
  static void set_eigenvalues(PCA& t, std::vector<float> values) {
    t.eigenvalues_ = std::move(values);
  }
  static void set_objective(OPQ& t, std::vector<double> objective) {
    t.objective_ = std::move(objective);
  }

  // Appends n rows (host memory) to a fresh IndexFlat's storage. Their ids are installed
  // afterwards, all at once, by finish_flat.
  static void append_flat_rows(IndexFlat& index, idx_t n, const float* x);
  // Makes a fresh IndexFlat on the CPU serve n rows read in place from host memory that keep
  // keeps alive (a read-only file mapping); ids follow by finish_flat.
  static void view_flat_rows(IndexFlat& index, idx_t n, const float* rows,
                             std::shared_ptr<const void> keep);
  // The rows of an IndexFlat in host memory (ntotal x dim, in place), or null when they are on
  // a device.
  static const float* host_flat_rows(const IndexFlat& index);
  // Installs the ids of every row (row order, one per appended row) and makes add() number
  // from next_id (>= every id + 1).
  static void finish_flat(IndexFlat& index, const std::vector<idx_t>& ids, idx_t next_id);

  // Room in a restoring index's lists for the saved sizes (n_lists values), before the appends
  // below, so that a device backend lays out its storage once instead of at each new list.
  static void reserve_lists(IndexIVFFlat& index, const std::vector<idx_t>& sizes);
  static void reserve_lists(IndexScalarQuantizerBase& index, const std::vector<idx_t>& sizes);
  static void reserve_lists(IndexIVFPQ& index, const std::vector<idx_t>& sizes);

  // Appends n vectors (host memory) with their ids to the given lists of a trained, restoring
  // IndexIVFFlat, in order, without assigning them to lists.
  static void append_ivf_rows(IndexIVFFlat& index, idx_t n, const float* x, const idx_t* ids,
                              const idx_t* lists);
  // Installs the ids of every appended vector (ascending) and makes add() number from next_id.
  static void finish_ivf(IndexIVFFlat& index, const std::vector<idx_t>& sorted_ids, idx_t next_id);

  // Scalar-quantizer indexes. One list's ids and codes (list 0 of an IndexScalarQuantizer, in
  // row order), for write_index.
  static std::vector<idx_t> sq_list_ids(const IndexScalarQuantizerBase& index, int list);
  static std::vector<std::uint8_t> sq_list_codes(const IndexScalarQuantizerBase& index, int list);
  // Installs the trained state of an empty index: the quantizer (its ranges), and the centroids
  // of an IndexIVFScalarQuantizer (null for an IndexScalarQuantizer).
  static void set_sq_training(IndexScalarQuantizerBase& index, const ScalarQuantizer& sq,
                              const float* centroids);
  // Appends n codes with their ids to one list, as stored; then finish_sq installs the ids of
  // every appended code (ascending) and makes add() number from next_id.
  static void append_sq_codes(IndexScalarQuantizerBase& index, int list, idx_t n,
                              const std::uint8_t* codes, const idx_t* ids);
  static void finish_sq(IndexScalarQuantizerBase& index, const std::vector<idx_t>& sorted_ids,
                        idx_t next_id);
  // Makes a fresh IndexPQ trained with these codebooks (pq_m x 256 x dsub), without training.
  static void set_pq_trained(IndexPQ& index, const float* pq_centroids) {
    index.pq_.set_centroids(pq_centroids);
  }
  // Appends n codes (host memory) to a fresh, trained IndexPQ; finish_pq installs the ids of
  // every row (row order) and makes add() number from next_id.
  static void append_pq_codes(IndexPQ& index, idx_t n, const std::uint8_t* codes);
  static void finish_pq(IndexPQ& index, const std::vector<idx_t>& ids, idx_t next_id);

  // Makes a fresh IndexIVFPQ trained with these coarse centroids (n_lists x dim) and quantizer
  // codebooks (pq_m x 256 x dsub), without training.
  static void set_ivf_pq_trained(IndexIVFPQ& index, const float* centroids,
                                 const float* pq_centroids);
  // Appends n codes with their ids to the given lists of a trained, restoring IndexIVFPQ;
  // finish_ivf_pq installs the ids (ascending) and makes add() number from next_id.
  static void append_ivf_pq_codes(IndexIVFPQ& index, idx_t n, const std::uint8_t* codes,
                                  const idx_t* ids, const idx_t* lists);
  static void finish_ivf_pq(IndexIVFPQ& index, const std::vector<idx_t>& sorted_ids, idx_t next_id);
};

}  // namespace knnx::detail
