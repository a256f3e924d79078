// CUDA flat backend: vectors resident on one device (rows padded to a multiple of 4 floats),
// searched by the fused streaming kernel for few queries and by cuBLAS GEMM tiles folded into
// a running top-k for many. Every call runs on a stream of its own and synchronises only
// before returning.
#include "cuda/flat/flat_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "core/workspace.hpp"
#include "cuda/common/device_filter.hpp"
#include "cuda/common/device_ids.hpp"
#include "cuda/common/range_collect.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_kernels.hpp"
#include "cuda/flat/fused_fast.hpp"
#include "cuda/flat/fused_wgmma.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/search_results.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/runtime/workspace.hpp"
#include "cuda/select/block_select_limits.hpp"
#include "cuda/select/final_merge.hpp"
#include "cuda/select/merge_kernels.hpp"
#include "cuda/select/merge_tree.hpp"
#include "cuda/select/radix_select.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

constexpr std::int64_t kMaxRows = INT32_MAX;  // kernels carry row numbers as int32

class FlatCuda final : public detail::FlatBackend {
 public:
  FlatCuda(int dim, Metric metric, int device)
      : dim_(dim), dp_((dim + 3) / 4 * 4), metric_(metric), device_(device), streams_(device) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
  }

  ~FlatCuda() override {
    DeviceGuard guard(device_);
    data_.release();
    norms_.release();
    ids_dev_.release();
    rows_of_ids_.release();
    cudaStreamSynchronize(main_->stream());
  }

  idx_t size() const override { return n_; }

  void add(idx_t n, const float* x) override {
    detail::require(n_ + n <= kMaxRows, "a GPU flat index holds at most {} vectors, got {} + {}",
                    kMaxRows, n_, n);
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const bool sync = config().sync_check;
    reserve(n_ + n);
    float* dst = data_.data() + n_ * dp_;
    copy_rows_padded(dst, dp_, x, dim_, n, s);
    launch_row_norms(dst, n, dp_, norms_.data() + n_, s, sync);
    main_->synchronize();
    n_ += n;
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::IdMap& ids, const detail::SearchKnobs& asked) const override {
    DeviceGuard guard(device_);
    const detail::SearchKnobs knobs = with_precision_used(nq, k, with_workspace(asked, device_));
    // Batches of queries, padded to dp_, bounded by the workspace (sized before any work, so a
    // bound too small for one query throws with nothing queued).
    const bool stream_path = nq <= knobs.flat_stream_max_nq;
    const detail::FlatTilePlan plan = plan_batches(nq, k, stream_path, knobs);
    auto lease = streams_.acquire();
    const cudaStream_t s = lease->stream();
    const bool sync = knobs.sync_check;
    const bool queries_on_device = is_device_pointer(queries);
    const std::int64_t* ids_dev = ids_dev_.get(ids, *main_);
    const DeviceFilter filter = admitted_rows(ids, n_, knobs.sel, s);

    // The streaming path's results are written by its kernels alone (its last block's merge,
    // or merge_partials): small host results go straight to the pinned buffer.
    const bool kernels_write_results = stream_path && !use_radix_select(k, knobs.gpu_radix_min_k);
    const SearchResults results(distances, labels, nq, k, plan.queries, knobs.workspace_bytes, s,
                                kernels_write_results ? lease->pinned_results() : nullptr);

    // Queries are checked for NaN/Inf and the norm bound on the stream (device queries in place,
    // host queries in their staged copy), into a pinned flag read after the final synchronisation:
    // the check costs no round trip and no host pass over the queries (~1 ms for 10,000 x 128). A
    // few host queries (kHostCheckMaxValues) are checked on the host instead, before anything is
    // queued: cheaper than a launch.
    const bool checked_on_host =
        !queries_on_device && nq * static_cast<std::int64_t>(dim_) <= kHostCheckMaxValues;
    if (checked_on_host) detail::check_vectors_host(nq, dim_, queries, "queries");
    volatile unsigned long long* bad = lease->pinned_flag();
    *bad = 0;
    if (queries_on_device) {
      launch_flag_unusable_rows(queries, nq, dim_, dim_, lease->pinned_flag(), s, sync);
    }

    // Device queries that are already 16-byte aligned rows of a multiple of 4 floats are read
    // in place.
    const std::int64_t batch = plan.queries;
    const bool in_place =
        queries_on_device && dp_ == dim_ && reinterpret_cast<std::uintptr_t>(queries) % 16 == 0;
    DeviceBuffer<float> qbuf;
    if (!in_place) qbuf = DeviceBuffer<float>(static_cast<std::size_t>(batch) * dp_, s);
    for (std::int64_t q0 = 0; q0 < nq; q0 += batch) {
      const std::int64_t bq = std::min(batch, nq - q0);
      const float* qb = queries + q0 * dim_;
      if (!in_place) {
        copy_rows_padded(qbuf.data(), dp_, qb, dim_, bq, s);
        qb = qbuf.data();
        if (!queries_on_device && !checked_on_host) {
          launch_flag_unusable_rows(qb, bq, dp_, dp_, lease->pinned_flag(), s, sync);
        }
      }
      search_batch(*lease, qb, static_cast<int>(bq), k, stream_path, plan.tile_rows, knobs, ids_dev,
                   filter.bits(), results.distances(q0), results.labels(q0));
      results.batch_done(q0, bq, s);
    }
    results.finish_and_wait(*lease);
    detail::require_not_flagged(*bad, !queries_on_device, nq, dim_, queries, "queries");
  }

  bool filters() const override { return true; }

  // Candidates (ids, host or device memory) become rows on the device (rows_of_ids_), and
  // launch_rerank scores them against the padded queries and keeps the best k, in batches of
  // queries bounded by the workspace.
  void rerank(idx_t nq, const float* queries, int n_cand, const idx_t* candidates, int k,
              float* distances, idx_t* labels, const detail::IdMap& ids,
              const detail::SearchKnobs& asked) const override {
    if (k > kBlockSelectMaxK) {
      throw NotSupported(
          fmt::format("exact re-ranking on a GPU returns at most {} neighbours a query, got k = {}",
                      kBlockSelectMaxK, k));
    }
    const std::size_t smem = rerank_smem_bytes(n_cand, k);
    const auto smem_limit =
        static_cast<std::size_t>(device_properties(device_).sharedMemPerBlockOptin);
    if (smem > smem_limit) {
      throw NotSupported(fmt::format(
          "exact re-ranking of {} candidates a query (k = {}) on a GPU needs {} bytes of shared "
          "memory a block, above the device's {}; lower k or k_factor",
          n_cand, k, smem, smem_limit));
    }
    if (nq == 0) return;
    DeviceGuard guard(device_);
    const detail::SearchKnobs knobs = with_workspace(asked, device_);
    auto lease = streams_.acquire();
    const cudaStream_t s = lease->stream();
    const bool sync = knobs.sync_check;
    const std::int64_t* ids_dev = ids_dev_.get(ids, *main_);
    const DeviceRowsOfIds::Tables tables = rows_of_ids_.get(ids, *main_);
    const bool candidates_on_device = is_device_pointer(candidates);

    const std::int64_t per_query = 4LL * dp_ + 12LL * n_cand;  // query, rows, staged ids
    const std::int64_t batch = std::clamp<std::int64_t>(knobs.workspace_bytes / per_query, 1,
                                                        std::min<std::int64_t>(nq, INT32_MAX));
    const SearchResults results(distances, labels, nq, k, batch, knobs.workspace_bytes, s);
    DeviceBuffer<float> qbuf(static_cast<std::size_t>(batch) * dp_, s);
    DeviceBuffer<std::int32_t> rows(static_cast<std::size_t>(batch) * n_cand, s);
    DeviceBuffer<std::int64_t> staged;
    if (!candidates_on_device) staged = DeviceBuffer<std::int64_t>(rows.size(), s);
    for (std::int64_t q0 = 0; q0 < nq; q0 += batch) {
      const std::int64_t bq = std::min(batch, nq - q0);
      const std::int64_t count = bq * n_cand;
      const std::int64_t* cand = candidates + q0 * n_cand;
      if (!candidates_on_device) {
        KNNX_CUDA_CHECK(cudaMemcpyAsync(staged.data(), cand, sizeof(std::int64_t) * count,
                                        cudaMemcpyHostToDevice, s));
        cand = staged.data();
      }
      launch_rows_of_ids(cand, count, tables.sorted_ids, tables.rows, n_, rows.data(), s, sync);
      copy_rows_padded(qbuf.data(), dp_, queries + q0 * dim_, dim_, bq, s);
      launch_rerank(data_.data(), dp_, qbuf.data(), static_cast<int>(bq), metric_, rows.data(),
                    n_cand, k, ids_dev, results.distances(q0), results.labels(q0), s, sync);
      results.batch_done(q0, bq, s);
    }
    results.finish_and_wait(*lease);
  }

  // Queries are staged in chunks (an eighth of the workspace), each run through the count and
  // fill passes of the streaming range kernel; the hits of a chunk are gathered within half
  // the workspace at a time (collect_range_chunk).
  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::IdMap& ids,
                                 const detail::SearchKnobs& call_knobs) const override {
    DeviceGuard guard(device_);
    const detail::SearchKnobs knobs = with_workspace(call_knobs, device_);
    auto lease = streams_.acquire();
    StreamContext& ctx = *lease;
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const std::int64_t* ids_dev = ids_dev_.get(ids, *main_);
    const DeviceFilter filter = admitted_rows(ids, n_, knobs.sel, s);
    RangeSearchResult result;
    result.lims.assign(static_cast<std::size_t>(nq) + 1, 0);
    const idx_t chunk = std::clamp<idx_t>(knobs.workspace_bytes / 8 / (4 * dp_), 1, 65535);
    DeviceBuffer<float> qbuf(
        static_cast<std::size_t>(std::min(chunk, std::max<idx_t>(nq, 1))) * dp_, s);
    volatile unsigned long long* bad = ctx.pinned_flag();
    for (idx_t q0 = 0; q0 < nq; q0 += chunk) {
      const int cq = static_cast<int>(std::min(chunk, nq - q0));
      const float* host_q = queries + q0 * dim_;
      *bad = 0;  // the previous chunk's work has finished (collect_range_chunk waits)
      copy_rows_padded(qbuf.data(), dp_, host_q, dim_, cq, s);
      launch_flag_unusable_rows(qbuf.data(), cq, dp_, dp_, ctx.pinned_flag(), s, sync);
      collect_range_chunk(
          ctx, cq, metric_, knobs.workspace_bytes / 2, ids_dev,
          [&](int* counters) {
            launch_flat_range(data_.data(), n_, dp_, qbuf.data(), cq, metric_, radius,
                              filter.bits(), counters, nullptr, s, sync);
          },
          [&] {
            detail::require_not_flagged(*bad, !is_device_pointer(host_q), cq, dim_, host_q,
                                        "queries");
          },
          [&](int first, int n, int* cursors, const RangeOutput& out) {
            launch_flat_range(data_.data(), n_, dp_,
                              qbuf.data() + static_cast<std::int64_t>(first) * dp_, n, metric_,
                              radius, filter.bits(), cursors, &out, s, sync);
          },
          q0, result);
    }
    return result;
  }

  // Queues the search of nq padded device queries (rows of dp_ floats) on ctx, in batches
  // bounded by the workspace like search(), labelled by row number; no synchronisation.
  // This is an IVF index's coarse search: past flat_stream_max_nq queries it still takes the
  // streaming kernel while all queries together read at most kPaddedStreamMaxBytes of rows (a
  // few thousand centroids stay in L2, where one launch reading them once a query costs a few
  // microseconds, less than the GEMM path's norms, GEMM, selection and merge launches).
  void search_padded(StreamContext& ctx, idx_t nq, const float* queries, int k,
                     const detail::SearchKnobs& asked, float* dist, std::int64_t* lab) const {
    detail::SearchKnobs knobs = with_precision_used(nq, k, with_workspace(asked, device_));
    // The fused path waits on the host for its overflow check.
    knobs.flat_fast_kernel = detail::FlatFastKernel::Gemm;
    constexpr std::int64_t kPaddedStreamMaxBytes = 32LL << 20;
    const bool stream_path =
        nq <= knobs.flat_stream_max_nq ||
        (nq <= StreamContext::kBlockCounters && nq * n_ * dp_ * 4 <= kPaddedStreamMaxBytes);
    const detail::FlatTilePlan plan = plan_batches(nq, k, stream_path, knobs);
    for (std::int64_t q0 = 0; q0 < nq; q0 += plan.queries) {
      const std::int64_t bq = std::min(plan.queries, nq - q0);
      search_batch(ctx, queries + q0 * dp_, static_cast<int>(bq), k, stream_path, plan.tile_rows,
                   knobs, nullptr, nullptr, dist + q0 * k, lab + q0 * k);
    }
  }

  void remove_rows(const std::vector<std::uint8_t>& remove) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    std::vector<std::int64_t> keep;
    keep.reserve(static_cast<std::size_t>(n_));
    for (std::int64_t r = 0; r < n_; ++r) {
      if (!remove[static_cast<std::size_t>(r)]) keep.push_back(r);
    }
    const std::int64_t m = static_cast<std::int64_t>(keep.size());
    const std::size_t cap = (std::max<std::size_t>(static_cast<std::size_t>(m), 1) + 3) / 4 * 4;
    DeviceBuffer<float> data(cap * dp_, s);
    DeviceBuffer<float> norms(cap, s);
    DeviceBuffer<std::int64_t> keep_dev(cap, s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(keep_dev.data(), keep.data(), sizeof(std::int64_t) * m,
                                    cudaMemcpyHostToDevice, s));
    const bool sync = config().sync_check;
    launch_gather_rows(data_.data(), dp_, keep_dev.data(), m, data.data(), s, sync);
    launch_row_norms(data.data(), m, dp_, norms.data(), s, sync);
    main_->synchronize();
    data_.swap(data);
    norms_.swap(norms);
    capacity_ = static_cast<std::int64_t>(cap);
    n_ = m;
  }

  void reconstruct(idx_t row, float* out) const override {
    DeviceGuard guard(device_);
    KNNX_CUDA_CHECK(
        cudaMemcpy(out, data_.data() + row * dp_, sizeof(float) * dim_, cudaMemcpyDeviceToHost));
  }

  std::vector<float> vectors() const override {
    DeviceGuard guard(device_);
    std::vector<float> out(static_cast<std::size_t>(n_) * dim_);
    if (n_ > 0) {
      KNNX_CUDA_CHECK(cudaMemcpy2D(out.data(), sizeof(float) * dim_, data_.data(),
                                   sizeof(float) * dp_, sizeof(float) * dim_,
                                   static_cast<std::size_t>(n_), cudaMemcpyDeviceToHost));
    }
    return out;
  }

  void reset() override {
    DeviceGuard guard(device_);
    data_.release();
    norms_.release();
    main_->synchronize();
    n_ = 0;
    capacity_ = 0;
  }

  void check_queries(idx_t, const float*) const override {
    // Queries are checked inside search(), on its stream.
  }

  void check_finite(idx_t n, const float* x, const char* what) const override {
    if (!is_device_pointer(x)) {
      detail::check_vectors_host(n, dim_, x, what);
      return;
    }
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    volatile unsigned long long* bad = lease->pinned_flag();
    *bad = 0;
    launch_flag_unusable_rows(x, n, dim_, dim_, lease->pinned_flag(), lease->stream(),
                              config().sync_check);
    lease->synchronize();
    detail::require_not_flagged(*bad, false, n, dim_, x, what);
  }

 private:
  // Grows storage to hold `rows` (amortised doubling). Strong guarantee: on OutOfMemory the
  // old buffers are untouched.
  void reserve(std::int64_t rows) {
    if (rows <= capacity_) return;
    // A multiple of 4 rows: kernels read norms as float4 up to round_up(n, 4).
    const std::int64_t cap = (std::max<std::int64_t>({rows, 2 * capacity_, 1024}) + 3) / 4 * 4;
    const cudaStream_t s = main_->stream();
    DeviceBuffer<float> data(static_cast<std::size_t>(cap) * dp_, s);
    DeviceBuffer<float> norms(static_cast<std::size_t>(cap), s);
    if (n_ > 0) {
      KNNX_CUDA_CHECK(cudaMemcpyAsync(data.data(), data_.data(), sizeof(float) * n_ * dp_,
                                      cudaMemcpyDeviceToDevice, s));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(norms.data(), norms_.data(), sizeof(float) * n_,
                                      cudaMemcpyDeviceToDevice, s));
    }
    data_.swap(data);
    norms_.swap(norms);
    capacity_ = cap;
  }

  // Candidates the GEMM path keeps per query: k, or k x overfetch in fast mode.
  static int kept_per_query(int k, const detail::SearchKnobs& knobs) {
    if (!knobs.flat_fast) return k;
    return static_cast<int>(std::min<std::int64_t>(
        kMaxSelectK,
        std::max<std::int64_t>(k, static_cast<std::int64_t>(k) * knobs.flat_overfetch)));
  }

  // The exact many-query path computes its tiles with 3xTF32 (split operands, flat_gemm).
  static bool split_gemm(const detail::SearchKnobs& knobs) {
    return !knobs.flat_fast && knobs.flat_gemm == FlatGemm::Tf32x3;
  }

  // Fast precision runs only where it gains: on the tiled path (more than flat_stream_max_nq
  // queries, k below the radix selection), in batches of at least 2 queries a multiprocessor
  // (fewer make the GEMM memory-bound, so tensor cores do not help), and for k up to
  // flat_fast_max_k (past it, selecting overfetch x k candidates costs more than the tf32 GEMM
  // saves). Elsewhere the search runs exact.
  FlatPrecision precision_used(idx_t nq, int k, const detail::SearchKnobs& asked) const override {
    if (!asked.flat_fast || n_ == 0 || k > asked.flat_fast_max_k ||
        nq <= asked.flat_stream_max_nq || use_radix_select(k, asked.gpu_radix_min_k)) {
      return FlatPrecision::Exact;
    }
    const detail::SearchKnobs knobs = with_workspace(asked, device_);
    const std::int64_t batch = plan_batches(nq, k, false, knobs).queries;
    const std::int64_t smallest = nq - (nq - 1) / batch * batch;  // the last batch
    const int sms = device_properties(device_).multiProcessorCount;
    return smallest >= 2LL * sms ? FlatPrecision::Fast : FlatPrecision::Exact;
  }

  // knobs with flat_fast set to what precision_used decides, so that every batch of the search
  // runs the same precision.
  detail::SearchKnobs with_precision_used(idx_t nq, int k, const detail::SearchKnobs& knobs) const {
    detail::SearchKnobs out = knobs;
    out.flat_fast = precision_used(nq, k, knobs) == FlatPrecision::Fast;
    return out;
  }

  // Queries per batch and GEMM tile rows (core/workspace.hpp's plan) of a search of nq
  // queries. The streaming path's partial results, max(nq, stream_slots(k)) x k pairs at most,
  // and the large-k path's chunks (search_radix) are bounded by the workspace too.
  detail::FlatTilePlan plan_batches(idx_t nq, int k, bool stream_path,
                                    const detail::SearchKnobs& knobs) const {
    const int sms = device_properties(device_).multiProcessorCount;
    if (use_radix_select(k, knobs.gpu_radix_min_k)) {
      // search_radix chunks a batch itself; a batch here only stages its padded queries. One
      // query's chunk is sized first, so that a bound too small for it throws before any work.
      if (n_ > 0) radix_shape(1, k, knobs);
      const std::string what = fmt::format("a GPU flat search of k = {}", k);
      return {std::min<idx_t>(detail::queries_per_batch(
                                  nq, 0, 4LL * dp_, detail::workspace_bound(knobs), what.c_str()),
                              knobs.flat_tile_queries),
              0};
    }
    if (stream_path) {
      const std::string what = fmt::format("a GPU flat search (streaming) with k = {}", k);
      const std::int64_t pair = static_cast<std::int64_t>(k) * 8;
      // The filter is not known here; ring 0 has the most slots (the automatic choice's bound).
      const int ring = std::max(knobs.flat_stream_ring, 0);
      const std::int64_t slots =
          std::max(stream_slots(k, false, ring), stream_slots(k, true, ring));
      return {detail::queries_per_batch(nq, slots * pair, pair + 4LL * dp_,
                                        detail::workspace_bound(knobs), what.c_str()),
              0};
    }
    const detail::FlatTileShape shape{n_,
                                      dp_,
                                      kept_per_query(k, knobs),
                                      split_gemm(knobs),
                                      knobs.flat_tile_rows,
                                      knobs.flat_tile_queries,
                                      2LL * sms};
    return detail::plan_flat_tiles(nq, shape, detail::workspace_bound(knobs));
  }

  // KNNX_FLAT_STREAM_RING=-1 (auto) runs the scan with a ring of kAutoStreamRing units where
  // that was measured to gain (H100, bench/NOTES.md): parts of at least kAutoRingMinPartRows
  // rows (1M x 128 at one query: 0.229 ms against 0.235 without) with three blocks a
  // multiprocessor or more (k up to ~100); a small base (4,096 rows, or an IVF index's
  // centroids) ran 5-7 us slower with it and keeps the registers.
  static constexpr int kAutoStreamRing = 4;
  static constexpr int kAutoRingMinBlocks = 3;
  static constexpr std::int64_t kAutoRingMinPartRows = 1024;

  // Blocks of the streaming kernel the device runs at once (flat_stream_blocks_per_sm on each
  // multiprocessor): the parts of a one-query search, so that it is one full wave. Ring 0 has
  // the most (an upper bound for the automatic choice).
  std::int64_t stream_slots(int k, bool filtered, int ring) const {
    const int sms = device_properties(device_).multiProcessorCount;
    return static_cast<std::int64_t>(flat_stream_blocks_per_sm(metric_, k, filtered, ring)) * sms;
  }

  // One batch of padded device queries: [bq][k] device results, queued on ctx. allowed: null,
  // or the bitmap of the rows results may hold (admitted_rows). tile_rows: of the GEMM tiles.
  void search_batch(StreamContext& ctx, const float* q, int bq, int k, bool stream_path,
                    std::int64_t tile_rows, const detail::SearchKnobs& knobs,
                    const std::int64_t* ids_dev, const std::uint32_t* allowed, float* dist,
                    std::int64_t* lab) const {
    if (use_radix_select(k, knobs.gpu_radix_min_k)) {
      search_radix(ctx, q, bq, k, knobs, ids_dev, allowed, dist, lab);
    } else if (n_ == 0) {
      launch_merge(nullptr, nullptr, bq, 0, metric_, k, nullptr, nullptr, dist, lab, ctx.stream(),
                   knobs.sync_check);
    } else if (stream_path) {
      search_stream(ctx, q, bq, k, ids_dev, allowed, dist, lab, knobs.flat_stream_ring,
                    knobs.sync_check);
    } else if (const FusedOperands fused = fused_operands(k, knobs);
               knobs.flat_fast && fused != FusedOperands::None && allowed == nullptr &&
               bq >= 2 * device_properties(device_).multiProcessorCount) {
      search_fused(ctx, q, bq, k, fused == FusedOperands::Fp16, knobs, ids_dev, dist, lab);
    } else {
      search_tiles(ctx, q, bq, k, tile_rows, knobs, ids_dev, allowed, dist, lab);
    }
  }

  // The parts' partial lists are folded into the results by the scan's last block of each query
  // when they are few (kLastBlockMergeMaxEntries) and the queries fit the context's counters:
  // one launch a batch; else by merge_partials.
  void search_stream(StreamContext& ctx, const float* q, int nq, int k, const std::int64_t* ids_dev,
                     const std::uint32_t* allowed, float* dist, std::int64_t* lab, int ring,
                     bool sync) const {
    const cudaStream_t s = ctx.stream();
    // Enough blocks to fill the device in one wave (as many as its multiprocessors hold at once:
    // a resident block fewer a multiprocessor is a fifth fewer reads in flight at five), but
    // parts long enough that partial results stay small (at least 4k rows a part). Parts of 256
    // rows let a small base (an IVF index's few thousand centroids, searched for one query)
    // spread over tens of blocks rather than the one or two that 2048-row parts gave, each of
    // which streamed ~1 MB alone.
    const bool filtered = allowed != nullptr;
    const auto parts_of = [&](int r) {
      const std::int64_t min_rows = std::max<std::int64_t>(256, 4LL * k);
      const std::int64_t max_parts = std::max<std::int64_t>(1, n_ / min_rows);
      return std::min(std::max<std::int64_t>(1, stream_slots(k, filtered, r) / nq), max_parts);
    };
    if (ring < 0) {  // KNNX_FLAT_STREAM_RING=-1: the ring where it was measured to gain
      const int blocks = flat_stream_blocks_per_sm(metric_, k, filtered, kAutoStreamRing);
      const std::int64_t ring_parts = parts_of(kAutoStreamRing);
      ring = blocks >= kAutoRingMinBlocks && n_ / ring_parts >= kAutoRingMinPartRows
                 ? kAutoStreamRing
                 : 0;
    }
    const std::int64_t parts = parts_of(ring);
    const std::int64_t rows_per_part = (n_ + parts - 1) / parts;
    const std::size_t partial = static_cast<std::size_t>(nq) * parts * k;
    DeviceBuffer<std::uint32_t> keys(partial, s);
    DeviceBuffer<std::int32_t> rows(partial, s);
    const bool fused =
        parts * k <= kLastBlockMergeMaxEntries && nq <= StreamContext::kBlockCounters;
    const FinalMerge final_merge =
        fused ? FinalMerge{ctx.block_counters(), ids_dev, dist, lab} : FinalMerge{};
    launch_flat_stream(data_.data(), n_, dp_, q, nq, metric_, k, static_cast<int>(parts),
                       rows_per_part, allowed, keys.data(), rows.data(), final_merge, ring, s,
                       sync);
    if (!fused) {
      merge_partials(std::move(keys), std::move(rows), nq, static_cast<int>(parts * k), k, metric_,
                     nullptr, ids_dev, dist, lab, s, sync);
    }
  }

  // k past the block selection (radix_select.hpp): per chunk of queries, GEMMs score every
  // stored row into a [chunk][n4] tile, and the radix selection keeps each query's best k,
  // completing the scores (base norms, filter) as it reads them. The tile is computed like the
  // tiled path's: by 3xTF32 over base tiles of flat_tile_rows (KNNX_FLAT_GEMM, from 2 queries a
  // multiprocessor on), else by one FP32 SGEMM; fast precision does not apply. Chunks are bounded
  // by the workspace: per query 4 bytes a stored row and 16 a kept result (a query's row of
  // scores is needed whole: an explicit bound too small for one query is refused, naming the
  // bytes it needs; the default one lets a query run past it).
  struct RadixShape {
    bool split;           // 3xTF32 tiles
    int inner;            // GEMM inner dimension (3 dp when split)
    std::int64_t n4;      // stored rows rounded up to whole float4s (the tile's row length)
    std::int64_t bn_max;  // base rows per GEMM
    std::int64_t chunk;   // queries per chunk
  };
  // The chunks of search_radix for bq queries. The split copies (one base tile of
  // flat_tile_rows rows) are dropped when they leave no room for one query; an explicit bound
  // too small for one query's row of scores throws InvalidArgument.
  RadixShape radix_shape(idx_t bq, int k, const detail::SearchKnobs& knobs) const {
    const int sms = device_properties(device_).multiProcessorCount;
    const std::int64_t n4 = (n_ + 3) / 4 * 4;
    const std::int64_t select_fixed = select_large_k_bytes(0, n_, k);
    const std::int64_t select_per_query = select_large_k_bytes(1, n_, k) - select_fixed;
    const auto fixed_bytes = [&](bool split, std::int64_t bn, int inner) {
      return select_fixed + (split ? bn * inner * 4 : 0);
    };
    const auto per_query_bytes = [&](bool split, int inner) {
      return n4 * 4 + 4 + (split ? inner * 4LL : 0) + select_per_query;
    };
    bool split = split_gemm(knobs) && bq >= 2 * sms;
    std::int64_t bn_max = std::min<std::int64_t>((knobs.flat_tile_rows + 3) / 4 * 4, n4);
    if (split && fixed_bytes(true, bn_max, 3 * dp_) + per_query_bytes(true, 3 * dp_) >
                     knobs.workspace_bytes) {
      split = false;
    }
    const int inner = split ? 3 * dp_ : dp_;
    if (!split) bn_max = n4;
    const std::string what =
        fmt::format("a GPU flat search of k = {} over {} rows (radix selection)", k, n_);
    const std::int64_t kept = std::max<std::int64_t>(1, std::min<std::int64_t>(k, n_));
    const std::int64_t chunk = std::min<std::int64_t>(
        {detail::queries_per_batch(bq, fixed_bytes(split, bn_max, inner),
                                   per_query_bytes(split, inner), detail::workspace_bound(knobs),
                                   what.c_str()),
         (INT32_MAX - 1) / kept, std::max<idx_t>(bq, 1)});
    return {split, inner, n4, bn_max, chunk};
  }

  void search_radix(StreamContext& ctx, const float* q, int bq, int k,
                    const detail::SearchKnobs& knobs, const std::int64_t* ids_dev,
                    const std::uint32_t* allowed, float* dist, std::int64_t* lab) const {
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const bool l2 = metric_ == Metric::L2;
    if (n_ == 0) {
      select_large_k(nullptr, nullptr, bq, 0, 0, k, metric_, nullptr, nullptr, dist, lab, s, sync);
      return;
    }
    const RadixShape shape = radix_shape(bq, k, knobs);
    const bool split = shape.split;
    const int inner = shape.inner;
    const std::int64_t n4 = shape.n4;
    const std::int64_t bn_max = shape.bn_max;
    const std::int64_t chunk = shape.chunk;
    DeviceBuffer<float> tile(static_cast<std::size_t>(chunk * n4), s);
    DeviceBuffer<float> qnorms(static_cast<std::size_t>(chunk), s);
    DeviceBuffer<float> q_split, x_split;
    if (split) {
      q_split = DeviceBuffer<float>(static_cast<std::size_t>(chunk) * inner, s);
      x_split = DeviceBuffer<float>(static_cast<std::size_t>(bn_max) * inner, s);
    }
    // The padding columns n .. n4 are read (as whole float4s) but never selected: zeroed so no
    // uninitialised memory is read.
    if (n4 > n_) {
      KNNX_CUDA_CHECK(cudaMemset2DAsync(tile.data() + n_, sizeof(float) * n4, 0,
                                        sizeof(float) * (n4 - n_), static_cast<std::size_t>(chunk),
                                        s));
    }
    const float alpha = l2 ? -2.0f : -1.0f;
    const float beta = 0.0f;
    const cublasComputeType_t compute = split ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    for (std::int64_t c0 = 0; c0 < bq; c0 += chunk) {
      const int cb = static_cast<int>(std::min<std::int64_t>(chunk, bq - c0));
      const float* qc = q + c0 * dp_;
      if (l2) launch_row_norms(qc, cb, dp_, qnorms.data(), s, sync);
      const float* qa = qc;
      if (split) {
        launch_split_tf32(qc, cb, dp_, SplitOrder::Queries, q_split.data(), s, sync);
        qa = q_split.data();
      }
      for (std::int64_t b0 = 0; b0 < n_; b0 += bn_max) {
        const int bn = static_cast<int>(std::min(bn_max, n_ - b0));
        const float* xa = data_.data() + b0 * dp_;
        if (split) {
          // Stream order: the previous GEMM has read x_split before this overwrites it.
          launch_split_tf32(xa, bn, dp_, SplitOrder::Base, x_split.data(), s, sync);
          xa = x_split.data();
        }
        // tile[b][b0 + j] = alpha * <q_b, x_(b0+j)>: column-major (bn x cb, ld n4) = X^T * Q.
        KNNX_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, bn, cb, inner,
                                       &alpha, xa, CUDA_R_32F, inner, qa, CUDA_R_32F, inner, &beta,
                                       tile.data() + b0, CUDA_R_32F, static_cast<int>(n4), compute,
                                       CUBLAS_GEMM_DEFAULT));
      }
      select_large_k_from_scores(tile.data(), n4, cb, n_, norms_.data(), allowed, k, metric_,
                                 l2 ? qnorms.data() : nullptr, ids_dev, dist + c0 * k, lab + c0 * k,
                                 s, sync);
    }
  }

  // Many queries: cuBLAS computes a tile of scores while the select kernel folds the previous
  // tile into the running top-k on the auxiliary stream (two tile buffers, event-ordered), so
  // the compute-bound GEMM and the memory-bound selection overlap.
  // With few queries per batch ("wide"), each tile row is split over several blocks that write
  // partial top-k lists, merged at the end; otherwise one block per query keeps its top-k
  // across tiles. Wide tiles take up to half the workspace and their partial lists a quarter;
  // when even one part per tile does not fit that, the batch runs the running top-k with
  // tile_rows (the plan's, which fits the workspace).
  void search_tiles(StreamContext& ctx, const float* q, int bq, int k, std::int64_t tile_rows,
                    const detail::SearchKnobs& knobs, const std::int64_t* ids_dev,
                    const std::uint32_t* allowed, float* dist, std::int64_t* lab) const {
    const cudaStream_t s = ctx.stream();
    const cudaStream_t aux = ctx.aux_stream();
    const bool sync = knobs.sync_check;
    const int sms = device_properties(device_).multiProcessorCount;
    const std::int64_t workspace = knobs.workspace_bytes;
    const std::int64_t n4 = (n_ + 3) / 4 * 4;
    const auto tile_cols = [n4](std::int64_t rows) {
      return std::min<std::int64_t>((rows + 3) / 4 * 4, n4);
    };
    const std::int64_t wide_cols =
        tile_cols(std::max<std::int64_t>(detail::kMinFlatTileRows, workspace / (16LL * bq)));
    const std::int64_t wide_tiles = (n_ + wide_cols - 1) / wide_cols;
    const std::int64_t wide_part_budget = workspace / 4 / (8LL * bq * wide_tiles * k);
    const bool wide = bq < 2 * sms && wide_part_budget >= 1;
    // Few queries make the GEMM memory-bound: tensor cores would not help, so stay exact.
    const bool fast = knobs.flat_fast && !wide;
    const int kk = fast ? kept_per_query(k, knobs) : k;
    const std::int64_t bn_max = wide ? wide_cols : tile_cols(tile_rows);
    const int ld = static_cast<int>(bn_max);
    const std::int64_t n_tiles = (n_ + bn_max - 1) / bn_max;

    int parts = 1;
    int cols_per_part = ld;
    if (wide) {
      const std::int64_t want = std::max<std::int64_t>(1, 4LL * sms / bq);
      const std::int64_t max_parts = std::max<std::int64_t>(
          1, std::min<std::int64_t>(bn_max / std::max(2048, 4 * kk), wide_part_budget));
      parts = static_cast<int>(std::min(want, max_parts));
      cols_per_part = static_cast<int>(((bn_max + parts - 1) / parts + 3) / 4 * 4);
      parts = static_cast<int>((bn_max + cols_per_part - 1) / cols_per_part);
    }
    const std::int64_t per_query = wide ? n_tiles * parts * kk : kk;
    DeviceBuffer<float> tiles[2] = {
        DeviceBuffer<float>(static_cast<std::size_t>(bq) * ld, s),
        DeviceBuffer<float>(n_tiles > 1 ? static_cast<std::size_t>(bq) * ld : 1, s)};
    DeviceBuffer<std::uint32_t> keys(static_cast<std::size_t>(bq) * per_query, s);
    DeviceBuffer<std::int32_t> rows(static_cast<std::size_t>(bq) * per_query, s);
    DeviceBuffer<float> qnorms(static_cast<std::size_t>(bq), s);
    if (metric_ == Metric::L2) launch_row_norms(q, bq, dp_, qnorms.data(), s, sync);

    const float alpha = metric_ == Metric::L2 ? -2.0f : -1.0f;
    const float beta = 0.0f;
    // 3xTF32: queries and each base tile are split into tf32 (hi, lo) parts laid out along the
    // inner dimension, so one tensor-core GEMM over 3 dp columns sums hi.hi + hi.lo + lo.hi.
    const bool split = !wide && split_gemm(knobs);
    const int inner = split ? 3 * dp_ : dp_;
    DeviceBuffer<float> q_split, x_split;
    const float* qa = q;
    if (split) {
      q_split = DeviceBuffer<float>(static_cast<std::size_t>(bq) * inner, s);
      x_split = DeviceBuffer<float>(static_cast<std::size_t>(bn_max) * inner, s);
      launch_split_tf32(q, bq, dp_, SplitOrder::Queries, q_split.data(), s, sync);
      qa = q_split.data();
    }
    const cublasComputeType_t compute =
        fast || split ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const cudaEvent_t start = ctx.event(0), done = ctx.event(1);
    const cudaEvent_t gemm_done[2] = {ctx.event(2), ctx.event(3)};
    const cudaEvent_t select_done[2] = {ctx.event(4), ctx.event(5)};
    KNNX_CUDA_CHECK(
        cudaEventRecord(start, s));  // buffers and query norms exist before aux uses them
    KNNX_CUDA_CHECK(cudaStreamWaitEvent(aux, start, 0));
    for (std::int64_t t = 0; t < n_tiles; ++t) {
      const int buf = static_cast<int>(t & 1);
      const std::int64_t c0 = t * bn_max;
      const int bn = static_cast<int>(std::min(bn_max, n_ - c0));
      if (t >= 2) KNNX_CUDA_CHECK(cudaStreamWaitEvent(s, select_done[buf], 0));
      const float* xa = data_.data() + c0 * dp_;
      if (split) {
        // Stream order: the previous tile's GEMM has read x_split before this overwrites it.
        launch_split_tf32(xa, bn, dp_, SplitOrder::Base, x_split.data(), s, sync);
        xa = x_split.data();
      }
      // tile[b][j] = alpha * <q_b, x_(c0+j)>: column-major (bn x bq, ld) = X_tile^T * Q.
      KNNX_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, bn, bq, inner, &alpha,
                                     xa, CUDA_R_32F, inner, qa, CUDA_R_32F, inner, &beta,
                                     tiles[buf].data(), CUDA_R_32F, ld, compute,
                                     CUBLAS_GEMM_DEFAULT));
      KNNX_CUDA_CHECK(cudaEventRecord(gemm_done[buf], s));
      KNNX_CUDA_CHECK(cudaStreamWaitEvent(aux, gemm_done[buf], 0));
      if (wide) {
        launch_tile_select(tiles[buf].data(), ld, bq, bn, norms_.data(), c0, metric_, kk, parts,
                           cols_per_part, allowed, nullptr, nullptr, keys.data(), rows.data(),
                           per_query, t * parts * kk, aux, sync);
      } else {
        launch_tile_select(tiles[buf].data(), ld, bq, bn, norms_.data(), c0, metric_, kk, 1, ld,
                           allowed, t == 0 ? nullptr : keys.data(), t == 0 ? nullptr : rows.data(),
                           keys.data(), rows.data(), kk, 0, aux, sync);
      }
      KNNX_CUDA_CHECK(cudaEventRecord(select_done[buf], aux));
    }
    KNNX_CUDA_CHECK(cudaEventRecord(done, aux));
    KNNX_CUDA_CHECK(cudaStreamWaitEvent(s, done, 0));
    if (fast) {
      launch_rerank(data_.data(), dp_, q, bq, metric_, rows.data(), kk, k, ids_dev, dist, lab, s,
                    sync);
    } else {
      merge_partials(std::move(keys), std::move(rows), bq, static_cast<int>(per_query), k, metric_,
                     metric_ == Metric::L2 ? qnorms.data() : nullptr, ids_dev, dist, lab, s, sync);
    }
  }

  // The operands fast precision's fused kernel runs on, or None for the cuBLAS tiles: as asked
  // (KNNX_FLAT_FAST_KERNEL=fused, KNNX_FLAT_FUSED_OPERANDS), or (auto) by the measured rule of
  // fused_fast.hpp: FP16 for k up to kFusedFp16AutoMaxK on mma.sync (kFusedAutoMaxK on
  // warpgroup MMA), TF32 up to kFusedAutoMaxK, and only on up to 128 dimensions, the shape
  // measured.
  enum class FusedOperands { None, Fp16, Tf32 };
  FusedOperands fused_operands(int k, const detail::SearchKnobs& knobs) const {
    const bool fp16 = knobs.flat_fused_fp16 && fused_fp16_supported(dp_);
    switch (knobs.flat_fast_kernel) {
      case detail::FlatFastKernel::Fused:
        return fp16 ? FusedOperands::Fp16 : FusedOperands::Tf32;
      case detail::FlatFastKernel::Gemm:
        return FusedOperands::None;
      case detail::FlatFastKernel::Auto:
        break;
    }
    if (!fused_fp16_supported(dp_) || k > kFusedAutoMaxK) return FusedOperands::None;
    if (!fp16) return FusedOperands::Tf32;
    const bool wgmma = use_wgmma(knobs, fused_wgmma_rows_shape(n_, dp_));
    return k <= (wgmma ? kFusedAutoMaxK : kFusedFp16AutoMaxK) ? FusedOperands::Fp16
                                                              : FusedOperands::Tf32;
  }

  // Whether the fused kernel on FP16 operands runs on warpgroup MMA (KNNX_FLAT_FUSED_MMA): asked
  // for, or (auto) where the device has it and the rows' FP16 copy takes at most a quarter of
  // the workspace (the rest holds the chunks' buffers).
  bool use_wgmma(const detail::SearchKnobs& knobs, const FusedWgmmaRows& half_rows) const {
    switch (knobs.flat_fused_mma) {
      case detail::FlatFusedMma::Sync:
        return false;
      case detail::FlatFusedMma::Wgmma:
        if (!fused_wgmma_device(device_)) {
          throw NotSupported(fmt::format(
              "KNNX_FLAT_FUSED_MMA=wgmma needs a compute capability 9.0 device and a build with "
              "sm_90a kernels; device {} is {}",
              device_, device_name(device_)));
        }
        return true;
      case detail::FlatFusedMma::Auto:
        break;
    }
    return fused_wgmma_device(device_) && half_rows.bytes() <= knobs.workspace_bytes / 4;
  }

  // Fast precision by the fused kernel (fused_fast.hpp: threshold from a strided sample, FP16 or
  // TF32 tiles filtered on chip, best k' re-ranked exactly), in chunks of queries bounded by half
  // the workspace. Queries whose candidate buffer overflowed are searched again exactly
  // (search_exact_rows), so no result is silently of lower quality.
  void search_fused(StreamContext& ctx, const float* q, int bq, int k, bool fp16,
                    const detail::SearchKnobs& knobs, const std::int64_t* ids_dev, float* dist,
                    std::int64_t* lab) const {
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const int sms = device_properties(device_).multiProcessorCount;
    const int kk = fused_kept(k, kept_per_query(k, knobs));
    const FusedFastShape shape = fused_fast_shape(n_, kk, knobs.flat_fused_cap);
    const std::int64_t s4 = (shape.sample + 3) / 4 * 4;
    // The sample's GEMM runs on 3xTF32 operands (launch_split_tf32: float32-level products at
    // tensor-core rates, a third of float32's time), over `inner` columns.
    const int inner = 3 * dp_;
    const std::int64_t per_query = 4 * s4 + 8LL * shape.cap + 16LL * kk + 16 + 4LL * dp_ +
                                   4LL * inner;  // scores, buffer, kept, small, split query
    const FusedWgmmaRows half_rows = fused_wgmma_rows_shape(n_, dp_);
    const bool wgmma = fp16 && use_wgmma(knobs, half_rows);
    const std::int64_t fixed =
        4 * s4 * (dp_ + 1 + inner) + (wgmma ? half_rows.bytes() : 0);  // sample, its split
    const std::int64_t chunk = std::clamp<std::int64_t>(
        (knobs.workspace_bytes / 2 - fixed) / per_query, 1, std::max(bq, 1));

    DeviceBuffer<float> sample(static_cast<std::size_t>(s4) * dp_, s);
    DeviceBuffer<float> sample_norms(static_cast<std::size_t>(s4), s);
    KNNX_CUDA_CHECK(cudaMemsetAsync(sample_norms.data(), 0, sizeof(float) * s4, s));
    launch_gather_strided(data_.data(), norms_.data(), dp_, shape.stride, shape.sample,
                          sample.data(), sample_norms.data(), s, sync);
    DeviceBuffer<float> sample_split(static_cast<std::size_t>(shape.sample) * inner, s);
    launch_split_tf32(sample.data(), shape.sample, dp_, SplitOrder::Base, sample_split.data(), s,
                      sync);
    const auto c = static_cast<std::size_t>(chunk);
    DeviceBuffer<float> tile(c * s4, s);
    if (s4 > shape.sample) {  // padding columns, read as float4s but never selected
      KNNX_CUDA_CHECK(cudaMemset2DAsync(tile.data() + shape.sample, sizeof(float) * s4, 0,
                                        sizeof(float) * (s4 - shape.sample), c, s));
    }
    DeviceBuffer<std::uint32_t> sel_keys(c * kk, s), top_keys(c * kk, s);
    DeviceBuffer<std::int32_t> sel_rows(c * kk, s), top_rows(c * kk, s);
    DeviceBuffer<float> qnorm2(c, s), thr(c, s), qscale(c, s);
    DeviceBuffer<float> q_split(c * inner, s);
    DeviceBuffer<int> counts(c, s);
    DeviceBuffer<std::uint32_t> cand_keys(c * shape.cap, s);
    DeviceBuffer<std::int32_t> cand_rows(c * shape.cap, s);
    // FP16 operands (fp16): [0] the chunk's largest squared query norm, [1] the rows'.
    DeviceBuffer<std::uint32_t> max_norm2(2, s);
    // wgmma: the rows' FP16 copy, made once a search (fused_wgmma.hpp).
    const auto tile_count = static_cast<std::size_t>(wgmma ? half_rows.tiles : 0);
    DeviceBuffer<__half> xh(wgmma ? static_cast<std::size_t>(n_) * half_rows.dk : 0, s);
    DeviceBuffer<float2> row_terms(tile_count * kFusedTileRows, s);
    DeviceBuffer<float> tile_norms(tile_count, s);
    if (fp16) {
      KNNX_CUDA_CHECK(cudaMemsetAsync(max_norm2.data(), 0, 2 * sizeof(std::uint32_t), s));
      launch_max_norm2(norms_.data(), n_, max_norm2.data() + 1, s, sync);
      if (wgmma) {
        launch_fused_wgmma_rows(data_.data(), norms_.data(), n_, dp_, metric_, max_norm2.data(),
                                half_rows, xh.data(), row_terms.data(), tile_norms.data(), s, sync);
      }
    }
    const float alpha = metric_ == Metric::L2 ? -2.0f : -1.0f;
    const float beta = 0.0f;
    const float sample_eps = fused_sample_eps(metric_, dp_);
    // Query tiles x row slices: at most 8 blocks a multiprocessor in all, i.e. whole waves of
    // the 2 resident a multiprocessor (rounding down: a few blocks of a fifth wave would
    // leave the device mostly idle while they run).
    const std::int64_t q_tiles = (chunk + kFusedTileQueries - 1) / kFusedTileQueries;
    const int splits = static_cast<int>(std::clamp<std::int64_t>(
        8LL * sms / q_tiles, 1, (n_ + kFusedTileRows - 1) / kFusedTileRows));
    std::vector<int> host_counts(c);
    std::vector<std::int64_t> overflowed;
    for (std::int64_t c0 = 0; c0 < bq; c0 += chunk) {
      const int cb = static_cast<int>(std::min<std::int64_t>(chunk, bq - c0));
      const float* qc = q + c0 * dp_;
      launch_row_norms(qc, cb, dp_, qnorm2.data(), s, sync);
      if (fp16) {
        KNNX_CUDA_CHECK(cudaMemsetAsync(max_norm2.data(), 0, sizeof(std::uint32_t), s));
        launch_max_norm2(qnorm2.data(), cb, max_norm2.data(), s, sync);
      }
      // tile[b][j] = alpha * <q_b, sample_j> on 3xTF32: (S x cb, ld s4) = Sample^T * Q.
      launch_split_tf32(qc, cb, dp_, SplitOrder::Queries, q_split.data(), s, sync);
      KNNX_CUBLAS_CHECK(
          cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(shape.sample), cb,
                       inner, &alpha, sample_split.data(), CUDA_R_32F, inner, q_split.data(),
                       CUDA_R_32F, inner, &beta, tile.data(), CUDA_R_32F, static_cast<int>(s4),
                       CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
      launch_tile_select(tile.data(), static_cast<int>(s4), cb, static_cast<int>(shape.sample),
                         sample_norms.data(), 0, metric_, kk, 1, static_cast<int>(s4), nullptr,
                         nullptr, nullptr, sel_keys.data(), sel_rows.data(), kk, 0, s, sync);
      const std::uint32_t* fp16_max = fp16 ? max_norm2.data() : nullptr;
      launch_fused_threshold(sel_keys.data(), sel_rows.data(), cb, kk, qnorm2.data(),
                             sample_norms.data(), metric_, dp_, sample_eps, fp16_max, thr.data(),
                             qscale.data(), s, sync);
      KNNX_CUDA_CHECK(cudaMemsetAsync(counts.data(), 0, sizeof(int) * cb, s));
      KNNX_CUDA_CHECK(
          cudaMemsetAsync(cand_rows.data(), 0xFF,
                          sizeof(std::int32_t) * cb * static_cast<std::size_t>(shape.cap), s));
      if (wgmma) {
        launch_fused_candidates_wgmma(
            xh.data(), row_terms.data(), tile_norms.data(), half_rows, n_, dp_, qc, cb, thr.data(),
            qscale.data(), metric_, fp16_max, shape.cap,
            static_cast<double>(kk) / static_cast<double>(shape.sample), splits, counts.data(),
            cand_keys.data(), cand_rows.data(), s, sync);
      } else {
        launch_fused_candidates(data_.data(), norms_.data(), n_, dp_, qc, cb, thr.data(),
                                qscale.data(), metric_, fp16_max, shape.cap, splits, counts.data(),
                                cand_keys.data(), cand_rows.data(), s, sync);
      }
      launch_merge_partial(cand_keys.data(), cand_rows.data(), cb, shape.cap, 1, kk,
                           top_keys.data(), top_rows.data(), s, sync);
      launch_rerank(data_.data(), dp_, qc, cb, metric_, top_rows.data(), kk, k, ids_dev,
                    dist + c0 * k, lab + c0 * k, s, sync);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(host_counts.data(), counts.data(), sizeof(int) * cb,
                                      cudaMemcpyDeviceToHost, s));
      ctx.synchronize();
      for (int i = 0; i < cb; ++i) {
        if (host_counts[static_cast<std::size_t>(i)] > shape.cap) overflowed.push_back(c0 + i);
      }
    }
    if (!overflowed.empty()) search_exact_rows(ctx, q, overflowed, k, knobs, ids_dev, dist, lab);
  }

  // Searches the queries rows[i] of q (padded device rows) again with exact precision and
  // writes their results over rows[i] of dist/lab ([..][k]).
  void search_exact_rows(StreamContext& ctx, const float* q, const std::vector<std::int64_t>& rows,
                         int k, const detail::SearchKnobs& knobs, const std::int64_t* ids_dev,
                         float* dist, std::int64_t* lab) const {
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const auto m = static_cast<std::int64_t>(rows.size());
    detail::SearchKnobs exact = knobs;
    exact.flat_fast = false;
    DeviceBuffer<std::int64_t> rows_dev(static_cast<std::size_t>(m), s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(rows_dev.data(), rows.data(), sizeof(std::int64_t) * m,
                                    cudaMemcpyHostToDevice, s));
    DeviceBuffer<float> qs(static_cast<std::size_t>(m) * dp_, s);
    launch_gather_rows(q, dp_, rows_dev.data(), m, qs.data(), s, sync);
    DeviceBuffer<float> d2(static_cast<std::size_t>(m) * k, s);
    DeviceBuffer<std::int64_t> l2(static_cast<std::size_t>(m) * k, s);
    const bool stream_path = m <= exact.flat_stream_max_nq;
    const detail::FlatTilePlan plan = plan_batches(m, k, stream_path, exact);
    for (std::int64_t b0 = 0; b0 < m; b0 += plan.queries) {
      const std::int64_t bm = std::min(plan.queries, m - b0);
      search_batch(ctx, qs.data() + b0 * dp_, static_cast<int>(bm), k, stream_path, plan.tile_rows,
                   exact, ids_dev, nullptr, d2.data() + b0 * k, l2.data() + b0 * k);
    }
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t at = rows[static_cast<std::size_t>(i)] * k;
      KNNX_CUDA_CHECK(cudaMemcpyAsync(dist + at, d2.data() + i * k, sizeof(float) * k,
                                      cudaMemcpyDeviceToDevice, s));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(lab + at, l2.data() + i * k, sizeof(std::int64_t) * k,
                                      cudaMemcpyDeviceToDevice, s));
    }
  }

  int dim_;
  int dp_;
  Metric metric_;
  int device_;
  std::int64_t n_ = 0;
  std::int64_t capacity_ = 0;
  std::unique_ptr<StreamContext> main_;  // storage changes (exclusive by contract)
  mutable StreamPool streams_;           // one stream per concurrent search
  DeviceBuffer<float> data_;             // capacity_ x dp_
  DeviceBuffer<float> norms_;            // capacity_
  DeviceIds ids_dev_;                    // the ids, when they are not the row numbers
  DeviceRowsOfIds rows_of_ids_;          // id -> row tables, when the ids are not the rows
};

}  // namespace

std::unique_ptr<detail::FlatBackend> make_flat_backend(int dim, Metric metric, int device) {
  return std::make_unique<FlatCuda>(dim, metric, device);
}

void search_padded_async(const detail::FlatBackend& flat, StreamContext& ctx, idx_t nq,
                         const float* queries, int k, const detail::SearchKnobs& knobs,
                         float* distances, std::int64_t* labels) {
  const auto* cuda_flat = dynamic_cast<const FlatCuda*>(&flat);
  detail::require(cuda_flat != nullptr, "search_padded_async needs a CUDA flat backend");
  cuda_flat->search_padded(ctx, nq, queries, k, knobs, distances, labels);
}

}  // namespace knnx::cuda
