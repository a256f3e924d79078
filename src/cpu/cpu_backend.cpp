// The CPU backend: the flat, IVF, k-means, product- and scalar-quantizer backends of src/cpu/,
// and the transforms' dense algebra as blocked BLAS calls.
#include "cpu/cpu_backend.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/blas.hpp"
#include "cpu/flat_cpu.hpp"
#include "cpu/ivf_cpu.hpp"
#include "cpu/kmeans_cpu.hpp"
#include "cpu/linalg.hpp"
#include "cpu/pq_cpu.hpp"
#include "cpu/sq_cpu.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

// Rows per BLAS call of the shifted maps: bounds the shifted copy.
constexpr idx_t kBlock = 4096;

// Copies rows [0, nr) of in (nr x d) plus shift into shifted, or returns in when shift is null.
const float* shifted_rows(const float* in, idx_t nr, idx_t d, const float* shift,
                          std::vector<float>& shifted) {
  if (shift == nullptr) return in;
  shifted.assign(in, in + nr * d);
  for (idx_t i = 0; i < nr; ++i) {
    for (idx_t j = 0; j < d; ++j) shifted[static_cast<std::size_t>(i * d + j)] += shift[j];
  }
  return shifted.data();
}

class CpuBackend final : public detail::Backend {
 public:
  std::unique_ptr<detail::FlatBackend> make_flat(int dim, Metric metric, int) const override {
    return make_flat_backend(dim, metric);
  }
  std::unique_ptr<detail::IvfBackend> make_ivf(int dim, int n_lists, Metric metric,
                                               int) const override {
    return make_ivf_backend(dim, n_lists, metric);
  }
  std::unique_ptr<detail::KMeansBackend> make_kmeans(int) const override {
    return make_kmeans_backend();
  }
  std::unique_ptr<detail::PqBackend> make_pq(int dim, int code_size, Metric metric,
                                             Device) const override {
    return make_pq_backend(dim, code_size, detail::PqLayout::Rows, metric);
  }
  std::unique_ptr<detail::PqBackend> make_pq_fast_scan(int dim, int code_size, Metric metric,
                                                       Device) const override {
    return make_pq_backend(dim, code_size, detail::PqLayout::FastScan4, metric);
  }
  std::unique_ptr<detail::SqBackend> make_sq(const detail::SqLayout& layout, Device) const override {
    return make_sq_backend(layout);
  }
  std::unique_ptr<detail::IvfPqBackend> make_ivf_pq(int dim, int n_lists, int code_size,
                                                    Metric metric, Device) const override {
    return make_ivf_pq_backend(dim, n_lists, code_size, detail::PqLayout::Rows, metric);
  }
  std::unique_ptr<detail::IvfPqBackend> make_ivf_pq_fast_scan(int dim, int n_lists, int code_size,
                                                              bool by_residual, Metric metric,
                                                              Device) const override {
    return make_ivf_pq_backend(dim, n_lists, code_size, detail::PqLayout::FastScan4, metric,
                               by_residual);
  }

  void affine_map(int, idx_t n, idx_t d_in, idx_t d_out, const float* x, const float* shift_in,
                  const float* w, const float* shift_out, float* out,
                  const detail::DenseKnobs&) const override {
    std::vector<float> shifted;
    for (idx_t r0 = 0; r0 < n; r0 += kBlock) {
      const idx_t nr = std::min(kBlock, n - r0);
      const float* in = shifted_rows(x + r0 * d_in, nr, d_in, shift_in, shifted);
      float* o = out + r0 * d_out;
      sgemm_ab(nr, d_out, d_in, 1.0f, in, w, 0.0f, o);
      if (shift_out != nullptr) {
        for (idx_t i = 0; i < nr; ++i) {
          for (idx_t j = 0; j < d_out; ++j) o[i * d_out + j] += shift_out[j];
        }
      }
    }
  }

  void gram(int, idx_t n, idx_t d, const float* x, const float* shift, float* out,
            const detail::DenseKnobs&) const override {
    std::vector<float> shifted;
    std::fill(out, out + d * d, 0.0f);
    for (idx_t r0 = 0; r0 < n; r0 += kBlock) {
      const idx_t nr = std::min(kBlock, n - r0);
      const float* in = shifted_rows(x + r0 * d, nr, d, shift, shifted);
      sgemm_atb(nr, d, d, 1.0f, in, in, 1.0f, out);
    }
  }

  void gemm_at_b(int, idx_t n, idx_t da, idx_t db, const float* a, const float* b, float* out,
                 const detail::DenseKnobs&) const override {
    sgemm_atb(n, db, da, 1.0f, a, b, 0.0f, out);
  }

  void l2_normalize(int, idx_t n, idx_t d, const float* x, float* out,
                    const detail::DenseKnobs&) const override {
#pragma omp parallel for schedule(static)
    for (idx_t i = 0; i < n; ++i) {
      const float* row = x + i * d;
      double s = 0.0;
      for (idx_t j = 0; j < d; ++j) s += double(row[j]) * row[j];
      const float f = s > 0.0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
      for (idx_t j = 0; j < d; ++j) out[i * d + j] = row[j] * f;
    }
  }

  void project_coeffs(int, idx_t m, idx_t k, const float* q_cols, const float* v, float* c,
                      const detail::DenseKnobs&) const override {
    cpu::project_coeffs(m, k, q_cols, v, c);
  }

  void qr(int, idx_t m, idx_t k, const float* a, float* q, float* r,
          const detail::DenseKnobs&) const override {
    cpu::qr(m, k, a, q, r);
  }

  detail::SvdFactors svd(int, idx_t m, idx_t n, const float* a, int rank, int p, int n_iter,
                         const std::vector<float>& v0, const detail::DenseKnobs&) const override {
    SvdOutput r = svd_subspace(m, n, a, rank, p, n_iter, v0);
    return {std::move(r.s), std::move(r.u), std::move(r.v)};
  }

  GemmTiles gemm_tiles(int, const detail::DenseKnobs&) const override { return {}; }

  std::unique_ptr<detail::StreamGroup> make_streams(int, int) const override {
    throw InvalidArgument("the CPU has no streams; StreamSet needs a CUDA device");
  }

  // One chunk after another, straight into the caller's arrays.
  void search_in_chunks(int, idx_t nq, idx_t dim, int k, idx_t chunk, const float* queries,
                        float* distances, idx_t* labels, const ChunkSearch& search,
                        const ChunkDelivered& delivered) const override {
    for (idx_t first = 0; first < nq; first += chunk) {
      const idx_t count = std::min(chunk, nq - first);
      search(count, queries + first * dim, distances + first * k, labels + first * k);
      delivered(first, count);
    }
  }

  std::unique_ptr<detail::ShardMerger> make_shard_merger(std::vector<int>, bool) const override {
    return nullptr;  // host memory: the shards' results are merged where they are
  }
};

}  // namespace

const detail::Backend& backend() {
  static const CpuBackend instance;
  return instance;
}

}  // namespace knnx::cpu
