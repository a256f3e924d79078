// CUDA IVF-Flat backend. The centroids live in a CUDA flat backend, which does the coarse
// quantisation (probe selection) with the exact flat kernels. The inverted lists live in one
// device arena of padded rows with per-list capacity (amortised growth: a list that outgrows
// its capacity triggers a re-layout in which every overflowing list at least doubles). A host
// mirror of the ids serves list_ids, remove and reconstruct without device round trips.
#include "cuda/ivf/ivf_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/check.hpp"
#include "core/id_map.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/search_results.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/select/merge_tree.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

class IvfCuda final : public detail::IvfBackend {
 public:
  IvfCuda(int dim, int n_lists, Metric metric, int device)
      : dim_(dim),
        dp_((dim + 3) / 4 * 4),
        n_lists_(n_lists),
        metric_(metric),
        device_(device),
        streams_(device),
        sizes_(static_cast<std::size_t>(n_lists), 0),
        caps_(static_cast<std::size_t>(n_lists), 0),
        offsets_(static_cast<std::size_t>(n_lists), 0),
        host_ids_(static_cast<std::size_t>(n_lists)) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
    coarse_ = make_flat_backend(dim, metric, device);
    upload_layout();
  }

  ~IvfCuda() override {
    DeviceGuard guard(device_);
    data_.release();
    ids_.release();
    dev_sizes_.release();
    dev_offsets_.release();
    cudaStreamSynchronize(main_->stream());
  }

  int n_lists() const override { return n_lists_; }

  void set_centroids(const float* centroids) override {
    coarse_->reset();
    coarse_->add(n_lists_, centroids);
  }

  std::vector<float> centroids() const override { return coarse_->vectors(); }

  void assign(idx_t n, const float* x, idx_t* lists) const override {
    std::vector<float> dist(static_cast<std::size_t>(n));
    coarse_->search(n, x, 1, dist.data(), lists, identity_, detail::default_search_knobs());
  }

  void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) override {
    const idx_t total = total_ + n;
    detail::require(total <= INT32_MAX, "a GPU IVF index holds at most {} vectors, got {} + {}",
                    INT32_MAX, total_, n);
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const bool sync = config().sync_check;

    // Destination of each new vector: its list's end, in input order within a list.
    std::vector<idx_t> new_sizes = sizes_;
    std::vector<idx_t> rank(static_cast<std::size_t>(n));
    for (idx_t i = 0; i < n; ++i) rank[i] = new_sizes[lists[i]]++;
    std::vector<idx_t> caps = caps_;
    bool relayout = false;
    for (int l = 0; l < n_lists_; ++l) {
      if (new_sizes[l] > caps[l]) {
        caps[l] = std::max<idx_t>({new_sizes[l], 2 * caps[l], 8});
        relayout = true;
      }
    }
    std::vector<idx_t> offsets = offsets_;
    idx_t arena_rows = arena_rows_;
    if (relayout) {
      arena_rows = 0;
      for (int l = 0; l < n_lists_; ++l) {
        offsets[l] = arena_rows;
        arena_rows += caps[l];
      }
    }

    // Everything that can fail (allocation) happens before the index changes.
    DeviceBuffer<float> data;
    DeviceBuffer<std::int64_t> dev_ids;
    if (relayout) {
      data = DeviceBuffer<float>(static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1)) * dp_, s);
      dev_ids =
          DeviceBuffer<std::int64_t>(static_cast<std::size_t>(std::max<idx_t>(arena_rows, 1)), s);
    }
    DeviceBuffer<float> staged(static_cast<std::size_t>(n) * dp_, s);
    DeviceBuffer<std::int64_t> staged_ids(static_cast<std::size_t>(n), s);
    DeviceBuffer<std::int64_t> src_pos(static_cast<std::size_t>(std::max(n, total_)), s);
    DeviceBuffer<std::int64_t> dst_pos(static_cast<std::size_t>(std::max(n, total_)), s);
    DeviceBuffer<std::int64_t> new_dev_sizes(static_cast<std::size_t>(n_lists_), s);
    DeviceBuffer<std::int64_t> new_dev_offsets(static_cast<std::size_t>(n_lists_), s);

    float* arena = relayout ? data.data() : data_.data();
    std::int64_t* arena_ids = relayout ? dev_ids.data() : ids_.data();
    if (relayout && total_ > 0) {
      std::vector<std::int64_t> sp, dpv;
      sp.reserve(static_cast<std::size_t>(total_));
      dpv.reserve(static_cast<std::size_t>(total_));
      for (int l = 0; l < n_lists_; ++l) {
        for (idx_t j = 0; j < sizes_[l]; ++j) {
          sp.push_back(offsets_[l] + j);
          dpv.push_back(offsets[l] + j);
        }
      }
      upload(src_pos.data(), sp, s);
      upload(dst_pos.data(), dpv, s);
      launch_move_rows(data_.data(), ids_.data(), src_pos.data(), arena, arena_ids, dst_pos.data(),
                       total_, dp_, s, sync);
      main_->synchronize();  // the position buffers are reused below
    }
    copy_rows_padded(staged.data(), dp_, x, dim_, n, s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(staged_ids.data(), ids, sizeof(std::int64_t) * n,
                                    cudaMemcpyHostToDevice, s));
    std::vector<std::int64_t> sp(static_cast<std::size_t>(n)), dpv(static_cast<std::size_t>(n));
    for (idx_t i = 0; i < n; ++i) {
      sp[i] = i;
      dpv[i] = offsets[lists[i]] + rank[i];
    }
    upload(src_pos.data(), sp, s);
    upload(dst_pos.data(), dpv, s);
    launch_move_rows(staged.data(), staged_ids.data(), src_pos.data(), arena, arena_ids,
                     dst_pos.data(), n, dp_, s, sync);
    upload(new_dev_sizes.data(), new_sizes, s);
    upload(new_dev_offsets.data(), offsets, s);
    main_->synchronize();

    // Commit (nothing below throws except host allocation, done first).
    std::vector<std::vector<idx_t>> host_ids = host_ids_;
    for (idx_t i = 0; i < n; ++i) host_ids[lists[i]].push_back(ids[i]);
    if (relayout) {
      data_.swap(data);
      ids_.swap(dev_ids);
      arena_rows_ = arena_rows;
    }
    host_ids_.swap(host_ids);
    sizes_.swap(new_sizes);
    caps_.swap(caps);
    offsets_.swap(offsets);
    dev_sizes_.swap(new_dev_sizes);
    dev_offsets_.swap(new_dev_offsets);
    total_ = total;
  }

  // A search runs in three stages per batch of queries — coarse_quantize (stage the queries,
  // pick their lists), scan_lists (partial top-k per query from the probed lists), merge (final
  // top-k) — all queued on one stream. The host waits once at the end, where the NaN/Inf flag
  // of the staged queries is read; the shared scan adds one wait per batch to read back the
  // per-list query counts it plans its work items from. Batches keep each one's scratch
  // within the workspace bound (knobs.workspace_bytes); one batch when everything fits.
  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& knobs) const override {
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    StreamContext& ctx = *lease;
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    const bool queries_on_device = is_device_pointer(queries);
    const SearchResults results(distances, labels, static_cast<std::size_t>(nq) * k, ctx.stream());
    volatile unsigned long long* bad = ctx.pinned_flag();
    *bad = 0;
    const ScanKind scan = choose_scan(nq, k, n_probe, knobs);
    const std::int64_t workspace = knobs.workspace_bytes;
    const idx_t batch = query_batch(nq, k, n_probe, scan, workspace, knobs);
    for (idx_t q0 = 0; q0 < nq; q0 += batch) {
      const int bq = static_cast<int>(std::min(batch, nq - q0));
      const ProbedQueries probed = coarse_quantize(ctx, queries + q0 * dim_, bq, n_probe, knobs);
      Partials partials = scan_lists(ctx, probed, k, scan, workspace, knobs);
      merge(ctx, std::move(partials), bq, k, knobs, results.distances() + q0 * k,
            results.labels() + q0 * k);
    }
    results.finish(ctx.stream());
    ctx.synchronize();
    detail::require_not_flagged(*bad != 0, !queries_on_device, nq, dim_, queries, "queries");
  }

  idx_t size() const override { return total_; }

  std::vector<idx_t> list_sizes() const override { return sizes_; }

  std::vector<float> list_vectors(int list) const override {
    DeviceGuard guard(device_);
    const idx_t m = sizes_[list];
    std::vector<float> out(static_cast<std::size_t>(m) * dim_);
    if (m > 0) {
      KNNX_CUDA_CHECK(cudaMemcpy2D(out.data(), sizeof(float) * dim_,
                                   data_.data() + offsets_[list] * dp_, sizeof(float) * dp_,
                                   sizeof(float) * dim_, static_cast<std::size_t>(m),
                                   cudaMemcpyDeviceToHost));
    }
    return out;
  }

  std::vector<idx_t> list_ids(int list) const override { return host_ids_[list]; }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    std::vector<std::int64_t> sp, dpv;
    std::vector<std::vector<idx_t>> host_ids(static_cast<std::size_t>(n_lists_));
    std::vector<idx_t> new_sizes(static_cast<std::size_t>(n_lists_), 0);
    idx_t removed = 0;
    for (int l = 0; l < n_lists_; ++l) {
      for (idx_t j = 0; j < sizes_[l]; ++j) {
        const idx_t id = host_ids_[l][j];
        if (std::binary_search(sorted_ids.begin(), sorted_ids.end(), id)) {
          ++removed;
          continue;
        }
        sp.push_back(offsets_[l] + j);
        dpv.push_back(offsets_[l] + new_sizes[l]);
        host_ids[l].push_back(id);
        ++new_sizes[l];
      }
    }
    if (removed == 0) return 0;
    // Compact into a fresh arena of the same layout (moving rows in place would race).
    const std::size_t rows = static_cast<std::size_t>(std::max<idx_t>(arena_rows_, 1));
    DeviceBuffer<float> data(rows * dp_, s);
    DeviceBuffer<std::int64_t> dev_ids(rows, s);
    DeviceBuffer<std::int64_t> src_pos(std::max<std::size_t>(sp.size(), 1), s);
    DeviceBuffer<std::int64_t> dst_pos(std::max<std::size_t>(sp.size(), 1), s);
    DeviceBuffer<std::int64_t> new_dev_sizes(static_cast<std::size_t>(n_lists_), s);
    upload(src_pos.data(), sp, s);
    upload(dst_pos.data(), dpv, s);
    launch_move_rows(data_.data(), ids_.data(), src_pos.data(), data.data(), dev_ids.data(),
                     dst_pos.data(), static_cast<std::int64_t>(sp.size()), dp_, s,
                     config().sync_check);
    upload(new_dev_sizes.data(), new_sizes, s);
    main_->synchronize();
    data_.swap(data);
    ids_.swap(dev_ids);
    dev_sizes_.swap(new_dev_sizes);
    host_ids_.swap(host_ids);
    sizes_.swap(new_sizes);
    total_ -= removed;
    return removed;
  }

  void reset() override {
    DeviceGuard guard(device_);
    data_.release();
    ids_.release();
    std::fill(sizes_.begin(), sizes_.end(), 0);
    std::fill(caps_.begin(), caps_.end(), 0);
    std::fill(offsets_.begin(), offsets_.end(), 0);
    for (auto& v : host_ids_) v.clear();
    arena_rows_ = 0;
    total_ = 0;
    upload_layout();
  }

  void check_finite(idx_t n, const float* x, const char* what) const override {
    coarse_->check_finite(n, x, what);
  }

  void check_queries(idx_t, const float*) const override {
    // Queries are checked inside search(), on its stream.
  }

 private:
  // How the probed lists are scanned: list-major with the candidates shared by the queries
  // probing a list (many queries per list, k <= kSharedMaxK), fused scan + select per query,
  // or the unfused baseline (every candidate's score written, then selected).
  enum class ScanKind { Shared, PerQuery, Unfused };

  // Stage 1's output: a batch's queries staged on the device (padded to dp_) and the lists each
  // probes ([nq][n_probe], in order of closeness).
  struct ProbedQueries {
    int nq;
    int n_probe;
    DeviceBuffer<float> queries;
    DeviceBuffer<std::int64_t> lists;
  };

  // Stage 2's output: per query, per_query partial (key, arena row) results.
  struct Partials {
    DeviceBuffer<std::uint32_t> keys;
    DeviceBuffer<std::int32_t> rows;
    int per_query;
  };

  ScanKind choose_scan(idx_t nq, int k, int n_probe, const detail::SearchKnobs& knobs) const {
    if (!knobs.ivf_fused) return ScanKind::Unfused;
    const double queries_per_list = double(nq) * n_probe / n_lists_;
    const bool shared = k <= kSharedMaxK && (knobs.ivf_shared == 1 ||
                                             (knobs.ivf_shared == -1 && queries_per_list >= 4.0));
    return shared ? ScanKind::Shared : ScanKind::PerQuery;
  }

  // No query has more candidates than the n_probe largest lists hold.
  idx_t max_candidates(int n_probe) const {
    std::vector<idx_t> sorted = sizes_;
    std::partial_sort(sorted.begin(), sorted.begin() + n_probe, sorted.end(), std::greater<>());
    return std::max<idx_t>(1, std::accumulate(sorted.begin(), sorted.begin() + n_probe, idx_t(0)));
  }

  // Per-query scan of nq queries: long candidate lists are split below the knob's bound so that
  // there are enough blocks to fill the device.
  struct PerQuerySplit {
    int rows_per_chunk;
    int chunks;
  };
  PerQuerySplit per_query_split(idx_t nq, idx_t max_cand, const detail::SearchKnobs& knobs) const {
    const int sms = device_properties(device_).multiProcessorCount;
    const idx_t want_chunks = std::max<idx_t>(1, (4LL * sms + nq - 1) / nq);
    const int rows_per_chunk = static_cast<int>(std::clamp<idx_t>(
        (max_cand + want_chunks - 1) / want_chunks, 256, knobs.ivf_rows_per_chunk));
    return {rows_per_chunk, static_cast<int>((max_cand + rows_per_chunk - 1) / rows_per_chunk)};
  }

  // Most pieces the shared scan's plan cuts a list into (pieces have at least 256 rows).
  int shared_chunks_bound() const {
    const idx_t longest = *std::max_element(sizes_.begin(), sizes_.end());
    return static_cast<int>(std::max<idx_t>(1, (longest + 255) / 256));
  }

  // Device bytes a batch of nq queries holds besides the results: the staged queries, their
  // probes and coarse distances, and the scan's partial results with the first level of their
  // merge tree (at most an eighth more). The shared scan's pieces per list are only known from
  // its plan: one piece a list is counted here, and the plan lengthens pieces when more would
  // not fit (scan_shared). The coarse search bounds its own scratch by the same workspace and
  // frees it before the scan allocates.
  std::int64_t batch_bytes(idx_t nq, int k, int n_probe, ScanKind scan, idx_t max_cand,
                           const detail::SearchKnobs& knobs) const {
    const std::int64_t staged = nq * (static_cast<std::int64_t>(dp_) * 4 + n_probe * 12);
    std::int64_t partials = 0;
    std::int64_t other = 0;
    switch (scan) {
      case ScanKind::Shared:
        partials = nq * n_probe * static_cast<std::int64_t>(k) * 8;
        other = nq * (n_probe * 4 + 4) + 12LL * (n_lists_ + 1);
        break;
      case ScanKind::PerQuery:
        partials =
            nq * static_cast<std::int64_t>(per_query_split(nq, max_cand, knobs).chunks) * k * 8;
        other = nq * (n_probe + 1) * 4;
        break;
      case ScanKind::Unfused:
        partials = nq * max_cand * 8;
        other = nq * (n_probe + 1) * 4;
        break;
    }
    return staged + partials + partials / 8 + other;
  }

  // Queries per batch: all nq when their scratch fits the workspace, else the most that fit
  // (at least one).
  idx_t query_batch(idx_t nq, int k, int n_probe, ScanKind scan, std::int64_t workspace,
                    const detail::SearchKnobs& knobs) const {
    const idx_t max_cand = max_candidates(n_probe);
    idx_t batch = nq;
    // Per-query bytes grow as a batch shrinks (more pieces per query), so shrink until it fits.
    while (batch > 1) {
      const std::int64_t bytes = batch_bytes(batch, k, n_probe, scan, max_cand, knobs);
      if (bytes <= workspace) break;
      const idx_t fit = static_cast<idx_t>(static_cast<double>(workspace) / bytes * batch);
      batch = std::clamp<idx_t>(fit, 1, batch - 1);
    }
    return batch;
  }

  // Stage 1, coarse quantisation: copies nq queries (host or device) to the device, padded,
  // checks them for NaN/Inf into ctx's pinned flag, and finds each one's n_probe nearest
  // centroids with the exact flat search, all queued on ctx.
  ProbedQueries coarse_quantize(StreamContext& ctx, const float* queries, int nq, int n_probe,
                                const detail::SearchKnobs& knobs) const {
    const cudaStream_t s = ctx.stream();
    const std::size_t slots = static_cast<std::size_t>(nq) * n_probe;
    ProbedQueries p{nq, n_probe, DeviceBuffer<float>(static_cast<std::size_t>(nq) * dp_, s),
                    DeviceBuffer<std::int64_t>(slots, s)};
    copy_rows_padded(p.queries.data(), dp_, queries, dim_, nq, s);
    launch_flag_nonfinite(p.queries.data(), static_cast<std::int64_t>(nq) * dp_, ctx.pinned_flag(),
                          s, knobs.sync_check);
    DeviceBuffer<float> centroid_dist(slots, s);
    search_padded_async(*coarse_, ctx, nq, p.queries.data(), n_probe, knobs, centroid_dist.data(),
                        p.lists.data());
    return p;
  }

  // Stage 2, the scan of the probed lists; `workspace` bounds the shared scan's partials.
  Partials scan_lists(StreamContext& ctx, const ProbedQueries& p, int k, ScanKind scan,
                      std::int64_t workspace, const detail::SearchKnobs& knobs) const {
    switch (scan) {
      case ScanKind::Shared:
        return scan_shared(ctx, p, k, workspace, knobs);
      case ScanKind::PerQuery:
        return scan_per_query(ctx, p, k, knobs);
      case ScanKind::Unfused:
        break;
    }
    return scan_unfused(ctx, p, knobs);
  }

  // List-major: each probed list is read once per group of queries that probe it. Work items
  // per group of queries probing a list and per piece of a long list are planned from the
  // per-list query counts (read back: a few KiB, the one wait before the end), so neither a
  // list that many queries probe nor a long list holds up the scan in one block.
  Partials scan_shared(StreamContext& ctx, const ProbedQueries& p, int k, std::int64_t workspace,
                       const detail::SearchKnobs& knobs) const {
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const int nq = p.nq, n_probe = p.n_probe;
    const std::size_t slots = static_cast<std::size_t>(nq) * n_probe;
    DeviceBuffer<int> counts(static_cast<std::size_t>(n_lists_) + 1, s);
    DeviceBuffer<int> starts(static_cast<std::size_t>(n_lists_) + 1, s);
    DeviceBuffer<int> cursor(static_cast<std::size_t>(n_lists_), s);
    DeviceBuffer<int> pairs(slots, s);
    const std::size_t temp_bytes = list_major_scan_temp_bytes(n_lists_);
    DeviceBuffer<unsigned char> temp(temp_bytes, s);
    build_list_major(p.lists.data(), nq, n_probe, n_lists_, counts.data(), starts.data(),
                     cursor.data(), pairs.data(), temp.data(), temp_bytes, s, sync);
    DeviceBuffer<float> qnorms(static_cast<std::size_t>(nq), s);
    launch_row_norms(p.queries.data(), nq, dp_, qnorms.data(), s, sync);
    std::vector<int> host_starts(static_cast<std::size_t>(n_lists_) + 1);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(host_starts.data(), starts.data(),
                                    sizeof(int) * host_starts.size(), cudaMemcpyDeviceToHost, s));
    ctx.synchronize();
    // The partials (and their merge tree, an eighth more) take what the batch leaves of the
    // workspace: that bounds the pieces a list is cut into.
    const std::int64_t per_chunk = static_cast<std::int64_t>(slots) * k * 9;
    const std::int64_t left =
        workspace - nq * (static_cast<std::int64_t>(dp_) * 4 + n_probe * 16 + 4);
    const int max_chunks = static_cast<int>(std::clamp<std::int64_t>(
        left / std::max<std::int64_t>(per_chunk, 1), 1, shared_chunks_bound()));
    const SharedScanPlan plan =
        plan_shared_scan(host_starts, sizes_, device_properties(device_).multiProcessorCount,
                         knobs.ivf_rows_per_chunk, max_chunks);
    const std::size_t n_items = plan.items.size();
    DeviceBuffer<SharedScanItem> items(std::max<std::size_t>(n_items, 1), s);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(items.data(), plan.items.data(),
                                    sizeof(SharedScanItem) * n_items, cudaMemcpyHostToDevice, s));
    const std::size_t partials = slots * plan.chunks * k;
    Partials out{DeviceBuffer<std::uint32_t>(partials, s), DeviceBuffer<std::int32_t>(partials, s),
                 n_probe * plan.chunks * k};
    // Partials no item writes (a list cut into fewer pieces than another) read as empty:
    // key kKeyMax, row -1, both all-ones bytes.
    KNNX_CUDA_CHECK(cudaMemsetAsync(out.keys.data(), 0xFF, sizeof(std::uint32_t) * partials, s));
    KNNX_CUDA_CHECK(cudaMemsetAsync(out.rows.data(), 0xFF, sizeof(std::int32_t) * partials, s));
    launch_ivf_shared_scan(data_.data(), dp_, p.queries.data(), qnorms.data(), n_probe,
                           static_cast<int>(n_items), items.data(), plan.rows_per_item, plan.chunks,
                           starts.data(), pairs.data(), dev_sizes_.data(), dev_offsets_.data(),
                           metric_, k, out.keys.data(), out.rows.data(), s, sync);
    return out;
  }

  // Candidate row counts before each probe of each query ([nq][n_probe + 1]).
  DeviceBuffer<std::int32_t> probe_prefix(const ProbedQueries& p, cudaStream_t s, bool sync) const {
    DeviceBuffer<std::int32_t> prefix(static_cast<std::size_t>(p.nq) * (p.n_probe + 1), s);
    launch_probe_prefix(p.lists.data(), p.nq, p.n_probe, dev_sizes_.data(), prefix.data(), s, sync);
    return prefix;
  }

  // Query-major fused scan + select: blocks per query and chunk of its candidates.
  Partials scan_per_query(StreamContext& ctx, const ProbedQueries& p, int k,
                          const detail::SearchKnobs& knobs) const {
    const cudaStream_t s = ctx.stream();
    const DeviceBuffer<std::int32_t> prefix = probe_prefix(p, s, knobs.sync_check);
    const PerQuerySplit split = per_query_split(p.nq, max_candidates(p.n_probe), knobs);
    const std::size_t partials = static_cast<std::size_t>(p.nq) * split.chunks * k;
    Partials out{DeviceBuffer<std::uint32_t>(partials, s), DeviceBuffer<std::int32_t>(partials, s),
                 split.chunks * k};
    launch_ivf_scan(data_.data(), dp_, p.queries.data(), p.nq, p.lists.data(), prefix.data(),
                    p.n_probe, dev_offsets_.data(), metric_, k, split.chunks, split.rows_per_chunk,
                    knobs.ivf_tpb, out.keys.data(), out.rows.data(), s, knobs.sync_check);
    return out;
  }

  // Unfused baseline: every candidate's score, selected by the merge.
  Partials scan_unfused(StreamContext& ctx, const ProbedQueries& p,
                        const detail::SearchKnobs& knobs) const {
    const cudaStream_t s = ctx.stream();
    const DeviceBuffer<std::int32_t> prefix = probe_prefix(p, s, knobs.sync_check);
    const int max_cand = static_cast<int>(max_candidates(p.n_probe));
    const std::size_t partials = static_cast<std::size_t>(p.nq) * max_cand;
    Partials out{DeviceBuffer<std::uint32_t>(partials, s), DeviceBuffer<std::int32_t>(partials, s),
                 max_cand};
    launch_ivf_distances(data_.data(), dp_, p.queries.data(), p.nq, p.lists.data(), prefix.data(),
                         p.n_probe, dev_offsets_.data(), metric_, max_cand, out.keys.data(),
                         out.rows.data(), s, knobs.sync_check);
    return out;
  }

  // Stage 3: each query's partials folded into its sorted top-k, arena rows mapped to ids.
  void merge(StreamContext& ctx, Partials partials, int nq, int k, const detail::SearchKnobs& knobs,
             float* dist, std::int64_t* lab) const {
    merge_partials(std::move(partials.keys), std::move(partials.rows), nq, partials.per_query, k,
                   metric_, nullptr, ids_.data(), dist, lab, ctx.stream(), knobs.sync_check);
  }

  template <typename T>
  static void upload(T* dst, const std::vector<T>& src, cudaStream_t s) {
    if (src.empty()) return;
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(dst, src.data(), sizeof(T) * src.size(), cudaMemcpyHostToDevice, s));
  }

  void upload_layout() {
    const cudaStream_t s = main_->stream();
    DeviceBuffer<std::int64_t> ds(static_cast<std::size_t>(n_lists_), s);
    DeviceBuffer<std::int64_t> dof(static_cast<std::size_t>(n_lists_), s);
    upload(ds.data(), sizes_, s);
    upload(dof.data(), offsets_, s);
    main_->synchronize();
    dev_sizes_.swap(ds);
    dev_offsets_.swap(dof);
  }

  int dim_;
  int dp_;
  int n_lists_;
  Metric metric_;
  int device_;
  mutable StreamPool streams_;
  std::unique_ptr<StreamContext> main_;
  std::unique_ptr<detail::FlatBackend> coarse_;  // the centroids
  detail::IdMap identity_;                       // centroid ids are list numbers
  std::vector<idx_t> sizes_, caps_, offsets_;
  std::vector<std::vector<idx_t>> host_ids_;
  idx_t arena_rows_ = 0;
  idx_t total_ = 0;
  DeviceBuffer<float> data_;        // arena_rows_ x dp_
  DeviceBuffer<std::int64_t> ids_;  // arena_rows_
  DeviceBuffer<std::int64_t> dev_sizes_;
  DeviceBuffer<std::int64_t> dev_offsets_;
};

}  // namespace

std::unique_ptr<detail::IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric,
                                                     int device) {
  return std::make_unique<IvfCuda>(dim, n_lists, metric, device);
}

}  // namespace knnx::cuda
