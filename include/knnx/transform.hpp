// knnx/transform.hpp — vector transforms applied before indexing, as FAISS's VectorTransform:
// PCA (optionally whitened), RandomRotation, L2Normalize and OPQ, plus IndexPreTransform, an
// Index that applies a transform to everything it receives.
//
// Inputs and outputs are row-major float32 host arrays (n x d_in in, n x d_out out). A transform
// with a CUDA device runs its heavy steps there (PCA covariance and every apply / reverse as
// GEMMs through knnx's tiled kernels, OPQ's k-means and Procrustes products); small dense
// factorisations (eigen- and singular-value decompositions of d x d matrices) run on the host in
// float64 either way, so CPU and GPU transforms agree to float32 rounding.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/types.hpp"

namespace knnx {

namespace detail {
struct IndexRestore;
}  // namespace detail

class VectorTransform {
 public:
  virtual ~VectorTransform();
  VectorTransform(const VectorTransform&) = delete;
  VectorTransform& operator=(const VectorTransform&) = delete;

  int d_in() const { return d_in_; }
  int d_out() const { return d_out_; }
  Device device() const { return device_; }
  virtual bool is_trained() const = 0;
  // Whether reverse() is defined (it maps outputs back to inputs, exactly for orthogonal maps).
  virtual bool reversible() const = 0;

  // Learns the transform from n rows (n >= 1; some transforms need more, and say so).
  // InvalidArgument when the transform is trained and an IndexPreTransform using it holds
  // vectors: they were stored through the old map, and re-training would silently change what
  // searches compare them with (reset() that index first).
  void train(idx_t n, const float* x);
  // out[0 .. n*d_out) = transform of x[0 .. n*d_in). InvalidArgument before training.
  void apply(idx_t n, const float* x, float* out) const;
  std::vector<float> apply(idx_t n, const float* x) const;
  // out[0 .. n*d_in) from y[0 .. n*d_out); NotSupported when !reversible().
  void reverse(idx_t n, const float* y, float* out) const;

 protected:
  VectorTransform(int d_in, int d_out, Device device);
  virtual void do_train(idx_t n, const float* x) = 0;
  virtual void do_apply(idx_t n, const float* x, float* out) const = 0;
  virtual void do_reverse(idx_t n, const float* y, float* out) const;

 private:
  friend class IndexPreTransform;  // registers itself as a user (train() checks them)

  int d_in_;
  int d_out_;
  Device device_;
  std::mutex users_mutex_;
  std::vector<const Index*> users_;  // the IndexPreTransforms wrapping this transform
};

// y = A (x - mean) with a d_out x d_in matrix A, and x = B y + mean as its reverse where one
// exists. The base of PCA, RandomRotation and OPQ.
class LinearTransform : public VectorTransform {
 public:
  bool is_trained() const override { return !matrix_.empty(); }
  bool reversible() const override { return !reverse_matrix_.empty(); }
  // A, row-major d_out x d_in (empty before training).
  const std::vector<float>& matrix() const { return matrix_; }
  // The input shift (d_in values; zeros where the transform has none).
  const std::vector<float>& mean() const { return mean_; }

 protected:
  using VectorTransform::VectorTransform;
  // Installs A, the mean (empty = zero) and B (d_in x d_out; empty = not reversible).
  void set_linear(std::vector<float> matrix, std::vector<float> mean,
                  std::vector<float> reverse_matrix);
  void do_apply(idx_t n, const float* x, float* out) const override;
  void do_reverse(idx_t n, const float* y, float* out) const override;

 private:
  // read_index installs saved matrices through it (src/index/index_restore.hpp).
  friend struct detail::IndexRestore;

  std::vector<float> matrix_;    // A, d_out x d_in
  std::vector<float> matrix_t_;  // A^T, d_in x d_out (the GEMM operand)
  std::vector<float> neg_mean_;  // -mean, or empty
  std::vector<float> mean_;
  std::vector<float> reverse_matrix_;  // B, d_in x d_out
  std::vector<float> reverse_t_;       // B^T, d_out x d_in
};

struct PcaParams {
  // Scale each output by 1 / sqrt(eigenvalue + whiten_eps) so outputs have unit variance.
  bool whiten = false;
  float whiten_eps = 0.0f;  // >= 0; guards against dividing by (near-)zero variances
  Device device = Device::cpu();
};

// Principal component analysis: outputs are the coordinates of x - mean along the d_out
// directions of largest variance, in decreasing order of variance. Each component's sign is
// fixed so that its largest-magnitude entry is positive. Reversible (x = P^T y + mean, scaled
// back first when whitened); the reverse of a reduction is the projection onto the kept
// subspace.
class PCA : public LinearTransform {
 public:
  PCA(int d_in, int d_out, PcaParams params = {});
  const PcaParams& params() const { return params_; }
  // All d_in covariance eigenvalues, descending (empty before training).
  const std::vector<float>& eigenvalues() const { return eigenvalues_; }

 protected:
  void do_train(idx_t n, const float* x) override;

 private:
  friend struct detail::IndexRestore;

  PcaParams params_;
  std::vector<float> eigenvalues_;
};

// A uniformly random (Haar) orthogonal d x d rotation drawn from `seed`: the Q factor of a
// Gaussian matrix with the signs of R's diagonal folded in. Trained on construction (train()
// is a no-op); reversible. With d_out < d_in the matrix is the first d_out rows of the d_in x d_in
// rotation (orthonormal rows, as FAISS's RandomRotationMatrix), and the reverse is the
// projection back onto their span.
class RandomRotation : public LinearTransform {
 public:
  RandomRotation(int d, std::uint64_t seed = 1234, Device device = Device::cpu());
  // 1 <= d_out <= d_in (InvalidArgument otherwise).
  RandomRotation(int d_in, int d_out, std::uint64_t seed, Device device = Device::cpu());
  std::uint64_t seed() const { return seed_; }

 protected:
  void do_train(idx_t n, const float* x) override;

 private:
  friend struct detail::IndexRestore;
  struct NotDrawn {};
  // For read_index: the matrix is installed from the file instead of being drawn again (an
  // O(d_in^3) factorisation).
  RandomRotation(NotDrawn, int d_in, int d_out, std::uint64_t seed, Device device);

  std::uint64_t seed_;
};

// Scales every row to unit L2 norm (zero rows stay zero). Needs no training; not reversible.
class L2Normalize : public VectorTransform {
 public:
  explicit L2Normalize(int d, Device device = Device::cpu());
  bool is_trained() const override { return true; }
  bool reversible() const override { return false; }

 protected:
  void do_train(idx_t n, const float* x) override;
  void do_apply(idx_t n, const float* x, float* out) const override;
};

struct OpqParams {
  int n_iter = 20;       // alternations of k-means and the Procrustes rotation update, >= 1
  int ksub = 256;        // centroids per sub-space (training needs n >= ksub)
  int kmeans_iter = 10;  // Lloyd iterations of each sub-space k-means, >= 1
  idx_t max_train_points = 65536;  // training rows used at most (a seeded sample beyond), >= ksub
  std::uint64_t seed = 1234;
  Device device = Device::cpu();
};

// Optimised product quantisation rotation: an orthogonal d x d matrix R such that the rotated
// vectors R x, split into M contiguous sub-spaces of d/M dimensions, are quantised well by a
// k-means codebook per sub-space. Training alternates (1) k-means per sub-space on the rotated
// sample (knnx::KMeans) and (2) the orthogonal Procrustes update: with Y the quantised rotated
// sample, R^T = U V^T from the SVD X^T Y = U S V^T. Starts from a random rotation. Reversible.
// With d_out < d_in (FAISS's OPQMatrix(d, M, d2)), R is d_out x d_in with orthonormal rows, the
// sub-spaces split the d_out outputs, U V^T is the thin factor, and the reverse projects back
// onto the rows' span.
class OPQ : public LinearTransform {
 public:
  OPQ(int d, int m, OpqParams params = {});
  // 1 <= d_out <= d_in, m divides d_out (InvalidArgument otherwise).
  OPQ(int d_in, int d_out, int m, OpqParams params = {});
  int m() const { return m_; }
  const OpqParams& params() const { return params_; }
  // Mean squared quantisation error of the rotated sample, measured at each iteration's k-means.
  const std::vector<double>& objective() const { return objective_; }

 protected:
  void do_train(idx_t n, const float* x) override;

 private:
  friend struct detail::IndexRestore;

  int m_;
  OpqParams params_;
  std::vector<double> objective_;
};

// An Index over transformed vectors: train() trains the transform (if not yet trained) then the
// wrapped index on the transformed sample; add / search transform their inputs first. Ids,
// remove_ids and reset pass through; reconstruct() reverses the transform where it is
// reversible (NotSupported otherwise). The wrapped index must be empty when wrapped and must only
// be used through the wrapper afterwards (the wrapper assigns sequential ids itself).
class IndexPreTransform : public Index {
 public:
  IndexPreTransform(std::shared_ptr<VectorTransform> transform, std::unique_ptr<Index> index);
  ~IndexPreTransform() override;

  Device device() const override { return index_->device(); }
  idx_t ntotal() const override { return index_->ntotal(); }
  bool is_trained() const override { return transform_->is_trained() && index_->is_trained(); }
  const VectorTransform& transform() const { return *transform_; }
  const Index& index() const { return *index_; }
  // The wrapped index, for its own settings (an IVF index's n_probe); vectors go through the
  // wrapper only.
  Index& index() { return *index_; }

 protected:
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  // The params go to the held indexes, which check them.
  void check_search_params(const SearchParams& params) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  void do_reconstruct(idx_t id, float* out) const override;
  void do_reset() override;
  void check_new_ids(idx_t n, const idx_t* ids) const override;
  idx_t next_sequential_id() const override { return next_id_; }
  std::function<void()> next_id_restorer() override;

 private:
  // read_index restores the id counter through it (src/index/index_restore.hpp).
  friend struct detail::IndexRestore;

  std::shared_ptr<VectorTransform> transform_;
  std::unique_ptr<Index> index_;
  idx_t next_id_ = 0;
};

}  // namespace knnx
