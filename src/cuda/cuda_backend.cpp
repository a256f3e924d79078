// The CUDA backend: the flat, IVF, product-quantizer and k-means backends of src/cuda/, and
// the transforms' dense algebra on the GEMM and linalg kernels, streaming host rows through the
// device.
#include "cuda/cuda_backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>

#include "cuda/flat/flat_cuda.hpp"
#include "cuda/gemm/gemm.hpp"
#include "cuda/ivf/ivf_cuda.hpp"
#include "cuda/kmeans/kmeans_cuda.hpp"
#include "cuda/linalg/linalg_cuda.hpp"
#include "cuda/multi/batched_search.hpp"
#include "cuda/multi/shard_merge.hpp"
#include "cuda/pq/pq_cuda.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/stream_group.hpp"
#include "cuda/runtime/workspace.hpp"
#include "cuda/sq/sq_cuda.hpp"

namespace knnx::cuda {
namespace {

// Rows of d_in + d_out floats one transform step streams at a time on device `ordinal`: the
// workspace bound of searches (KNNX_GPU_WORKSPACE_MB, or its default) applies to transforms too.
std::int64_t transform_chunk_rows(const detail::DenseKnobs& knobs, int ordinal, std::int64_t d_in,
                                  std::int64_t d_out) {
  return std::max<std::int64_t>(
      1, workspace_or_default(knobs.workspace_bytes, ordinal) / (4 * (d_in + d_out)));
}

// Shards on CUDA devices: results gathered onto the first shard's device and merged there.
class CudaShardMerger final : public detail::ShardMerger {
 public:
  CudaShardMerger(std::vector<int> ordinals, bool use_nccl)
      : merger_(std::move(ordinals), use_nccl) {}
  const char* gather_method() const override { return merger_.uses_nccl() ? "nccl" : "peer"; }
  void search(idx_t nq, int k, Metric metric, const RunAll& run_all,
              const ShardSearch& shard_search, float* distances,
              std::int64_t* labels) const override {
    merger_.search(nq, k, metric, run_all, shard_search, distances, labels);
  }

 private:
  cuda::ShardMerger merger_;
};

class CudaBackend final : public detail::Backend {
 public:
  std::unique_ptr<detail::FlatBackend> make_flat(int dim, Metric metric,
                                                 int ordinal) const override {
    return make_flat_backend(dim, metric, ordinal);
  }
  std::unique_ptr<detail::IvfBackend> make_ivf(int dim, int n_lists, Metric metric,
                                               int ordinal) const override {
    return make_ivf_backend(dim, n_lists, metric, ordinal);
  }
  std::unique_ptr<detail::KMeansBackend> make_kmeans(int ordinal) const override {
    return make_kmeans_backend(ordinal);
  }
  std::unique_ptr<detail::PqBackend> make_pq(int dim, int code_size, Metric metric,
                                             Device device) const override {
    return make_pq_backend(dim, code_size, metric, device.ordinal);
  }
  std::unique_ptr<detail::IvfPqBackend> make_ivf_pq(int dim, int n_lists, int code_size,
                                                    Metric metric, Device device) const override {
    return make_ivf_pq_backend(dim, n_lists, code_size, metric, device.ordinal);
  }
  std::unique_ptr<detail::SqBackend> make_sq(const detail::SqLayout& layout,
                                             Device device) const override {
    return make_sq_backend(layout, device.ordinal);
  }

  void affine_map(int ordinal, idx_t n, idx_t d_in, idx_t d_out, const float* x,
                  const float* shift_in, const float* w, const float* shift_out, float* out,
                  const detail::DenseKnobs& knobs) const override {
    affine_map_host(ordinal, n, d_in, d_out, x, shift_in, w, shift_out, out,
                    transform_chunk_rows(knobs, ordinal, d_in, d_out),
                    linalg_settings(knobs, ordinal));
  }

  void gram(int ordinal, idx_t n, idx_t d, const float* x, const float* shift, float* out,
            const detail::DenseKnobs& knobs) const override {
    gram_host(ordinal, n, d, x, shift, transform_chunk_rows(knobs, ordinal, d, 0), out,
              linalg_settings(knobs, ordinal));
  }

  void gemm_at_b(int ordinal, idx_t n, idx_t da, idx_t db, const float* a, const float* b,
                 float* out, const detail::DenseKnobs& knobs) const override {
    gemm_at_b_host(ordinal, n, da, db, a, b, out, linalg_settings(knobs, ordinal));
  }

  void l2_normalize(int ordinal, idx_t n, idx_t d, const float* x, float* out,
                    const detail::DenseKnobs& knobs) const override {
    l2_normalize_host(ordinal, n, d, x, out, transform_chunk_rows(knobs, ordinal, d, 0),
                      linalg_settings(knobs, ordinal));
  }

  void project_coeffs(int ordinal, idx_t m, idx_t k, const float* q_cols, const float* v, float* c,
                      const detail::DenseKnobs& knobs) const override {
    project_coeffs_host(ordinal, m, k, q_cols, v, c, linalg_settings(knobs, ordinal));
  }

  void qr(int ordinal, idx_t m, idx_t k, const float* a, float* q, float* r,
          const detail::DenseKnobs& knobs) const override {
    qr_host(ordinal, m, k, a, q, r, linalg_settings(knobs, ordinal));
  }

  detail::SvdFactors svd(int ordinal, idx_t m, idx_t n, const float* a, int rank, int p, int n_iter,
                         const std::vector<float>& v0,
                         const detail::DenseKnobs& knobs) const override {
    SvdOutput r = svd_host(ordinal, m, n, a, rank, p, n_iter, v0, linalg_settings(knobs, ordinal));
    return {std::move(r.s), std::move(r.u), std::move(r.v)};
  }

  GemmTiles gemm_tiles(int ordinal, const detail::DenseKnobs& c) const override {
    const cudaDeviceProp& prop = device_properties(ordinal);
    GemmTiles out;
    out.sm_major = prop.major;
    out.sm_minor = prop.minor;
    const std::string table = fmt::format("table sm_{}{}", prop.major, prop.minor);
    const GemmTileChoice av = resolve_gemm_tile(GemmOp::AV, c.gemm_tile_av, ordinal);
    const GemmTileChoice atb = resolve_gemm_tile(GemmOp::AtB, c.gemm_tile_atb, ordinal);
    out.av = gemm_tile_name(av.wide);
    out.av_narrow = gemm_tile_name(av.narrow);
    out.atb = gemm_tile_name(atb.wide);
    out.atb_narrow = gemm_tile_name(atb.narrow);
    out.narrow_columns = static_cast<int>(kNarrowColumns);
    out.av_source = c.gemm_tile_av == "auto" ? table : "KNNX_GEMM_TILE_AV";
    out.atb_source = c.gemm_tile_atb == "auto" ? table : "KNNX_GEMM_TILE_ATB";
    return out;
  }

  std::unique_ptr<detail::StreamGroup> make_streams(int ordinal, int n) const override {
    return make_stream_group(ordinal, n);
  }

  void search_in_chunks(int ordinal, idx_t nq, idx_t dim, int k, idx_t chunk, const float* queries,
                        float* distances, idx_t* labels, const ChunkSearch& search,
                        const ChunkDelivered& delivered) const override {
    cuda::search_in_chunks(ordinal, nq, dim, k, chunk, queries, distances, labels, search,
                           delivered);
  }

  std::unique_ptr<detail::ShardMerger> make_shard_merger(std::vector<int> ordinals,
                                                         bool use_nccl) const override {
    if (ordinals.size() > static_cast<std::size_t>(kMaxDeviceMergeShards)) return nullptr;
    return std::make_unique<CudaShardMerger>(std::move(ordinals), use_nccl);
  }
};

}  // namespace

const detail::Backend& backend() {
  static const CudaBackend instance;
  return instance;
}

}  // namespace knnx::cuda
