// CUDA backend of IndexScalarQuantizer and IndexIVFScalarQuantizer.
//
// The codes live in a DeviceListArena (the storage of the GPU IVF-Flat and IVF-PQ lists; one
// list for IndexScalarQuantizer), so adds, remove_ids, list copies and filters are its code.
// Training and encoding stay on the host (the coarse k-means runs on the index's device). A
// search stages its queries (IVF: stage 1 of the IVF-Flat search, coarse_quantize), runs one block
// per (query, probed list, chunk of rows) that decodes each code on the fly and feeds the fused
// block selection (sq_kernels.hpp), and merges each query's partial results with the IVF merge.
// Range search runs the same items through the count and fill passes
// (cuda/common/range_collect.hpp).
#include "cuda/sq/sq_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "core/id_map.hpp"
#include "cuda/common/device_filter.hpp"
#include "cuda/common/range_collect.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_search.hpp"
#include "cuda/ivf/list_arena.hpp"
#include "cuda/pq/pq_search_common.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/search_results.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/runtime/workspace.hpp"
#include "cuda/select/merge_tree.hpp"
#include "cuda/sq/sq_kernels.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

using Type = ScalarQuantizer::Type;

// Fewest code rows one block of an IndexScalarQuantizer scan takes.
constexpr idx_t kMinRowsPerChunk = 1024;

// The queries of a batch staged on the device, with their probes (IVF).
struct StagedQueries {
  DeviceBuffer<float> queries;
  DeviceBuffer<std::int64_t> lists;  // empty without a coarse quantizer
};

class SqCuda final : public detail::SqBackend {
 public:
  SqCuda(const detail::SqLayout& layout, int device)
      : layout_(layout),
        dp_((layout.dim + 3) / 4 * 4),
        code_size_(static_cast<int>(ScalarQuantizer(layout.dim, layout.type).code_size())),
        code_words_(pq_code_words(code_size_)),
        device_(device),
        streams_(device) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
    if (layout_.coarse) coarse_ = make_flat_backend(layout_.dim, layout_.metric, device_);
    lists_ = std::make_unique<DeviceListArena>(layout_.n_lists, code_words_, device_, *main_);
  }

  ~SqCuda() override {
    DeviceGuard guard(device_);
    lists_.reset();
    centroids_.release();
    table_a_.release();
    table_b_.release();
    cudaStreamSynchronize(main_->stream());
  }

  const detail::SqLayout& layout() const override { return layout_; }

  void set_centroids(const float* centroids) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const std::size_t count = detail::checked_elements(layout_.n_lists, layout_.dim, "centroids");
    std::vector<float> host(centroids, centroids + count);
    DeviceBuffer<float> fresh(count, s);
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(fresh.data(), centroids, sizeof(float) * count, cudaMemcpyHostToDevice, s));
    main_->synchronize();
    coarse_->reset();
    coarse_->add(layout_.n_lists, centroids);
    centroids_.swap(fresh);
    host_centroids_.swap(host);
  }

  std::vector<float> centroids() const override {
    if (!host_centroids_.empty()) return host_centroids_;
    return std::vector<float>(detail::checked_elements(layout_.n_lists, layout_.dim, "centroids"),
                              0.0f);
  }

  bool has_centroids() const override { return !host_centroids_.empty(); }

  void assign(idx_t n, const float* x, idx_t* lists) const override {
    if (!layout_.coarse) {
      std::fill(lists, lists + n, idx_t{0});
      return;
    }
    std::vector<float> dist(static_cast<std::size_t>(n));
    coarse_->search(n, x, 1, dist.data(), lists, identity_, detail::default_search_knobs());
  }

  // Installs the quantizer and its per-component tables a_j, b_j on the device (sq_kernels.hpp),
  // computed as the CPU scanner computes them.
  void set_quantizer(const ScalarQuantizer& sq) override {
    const int d = layout_.dim;
    std::vector<float> a(static_cast<std::size_t>(d), 0.0f), b(static_cast<std::size_t>(d), 1.0f);
    if (sq.type() == Type::QT_8bit || sq.type() == Type::QT_4bit) {
      const float levels = sq.type() == Type::QT_8bit ? 255.0f : 15.0f;
      for (std::size_t j = 0; j < a.size(); ++j) {
        b[j] = sq.vdiff()[j] / levels;
        a[j] = sq.vmin()[j] + 0.5f * b[j];
      }
    }
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    DeviceBuffer<float> da(a.size(), s), db(b.size(), s);
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(da.data(), a.data(), sizeof(float) * a.size(), cudaMemcpyHostToDevice, s));
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(db.data(), b.data(), sizeof(float) * b.size(), cudaMemcpyHostToDevice, s));
    main_->synchronize();
    quantizer_ = sq;
    table_a_.swap(da);
    table_b_.swap(db);
  }

  const std::optional<ScalarQuantizer>& quantizer() const override { return quantizer_; }

  void reserve_lists(const std::vector<idx_t>& sizes) override { lists_->reserve(sizes); }
  void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) override {
    const std::size_t cs = static_cast<std::size_t>(code_size_);
    std::vector<std::uint8_t> codes;
    try {
      codes.resize(detail::checked_elements(n, cs, "codes"));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(
          fmt::format("cannot allocate the codes of {} vectors ({} bytes each)", n, cs));
    }
    if (!layout_.by_residual) {
      quantizer_->encode(n, x, codes.data());
    } else {
      const std::size_t d = static_cast<std::size_t>(layout_.dim);
      std::vector<float> residual(d);
      for (idx_t i = 0; i < n; ++i) {
        const float* c = host_centroids_.data() + static_cast<std::size_t>(lists[i]) * d;
        const float* xi = x + static_cast<std::size_t>(i) * d;
        for (std::size_t j = 0; j < d; ++j) residual[j] = xi[j] - c[j];
        quantizer_->encode(1, residual.data(), codes.data() + static_cast<std::size_t>(i) * cs);
      }
    }
    append(n, codes.data(), ids, lists);
  }

  void add_codes(int list, idx_t n, const std::uint8_t* codes, const idx_t* ids) override {
    const std::vector<idx_t> lists(static_cast<std::size_t>(n), list);
    append(n, codes, ids, lists.data());
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& call_knobs) const override {
    if (nq == 0) return;
    check_k_in_block_range(k, layout_.coarse ? "IndexIVFScalarQuantizer" : "IndexScalarQuantizer");
    DeviceGuard guard(device_);
    const detail::SearchKnobs knobs = with_workspace(call_knobs, device_);
    auto lease = streams_.acquire();
    StreamContext& ctx = *lease;
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const DeviceFilter filter = lists_->admitted(knobs.sel, s);
    SqScanArgs args = scan_args(knobs, filter.bits());
    const int per_query = args.n_probe * args.chunks;
    // Per query: its staged copy and probes, and its partial results with the first level of
    // their merge tree.
    const std::int64_t per_query_bytes = static_cast<std::int64_t>(dp_) * 4 + args.n_probe * 12LL +
                                         static_cast<std::int64_t>(per_query) * k * 9;
    const idx_t batch =
        pq_query_batch(nq, per_query_bytes, 0, knobs,
                       layout_.coarse ? "IndexIVFScalarQuantizer" : "IndexScalarQuantizer", k);
    const SearchResults results(distances, labels, nq, k, batch, knobs.workspace_bytes, s);
    volatile unsigned long long* bad = ctx.pinned_flag();
    *bad = 0;
    for (idx_t q0 = 0; q0 < nq; q0 += batch) {
      const int bq = static_cast<int>(std::min(batch, nq - q0));
      const StagedQueries staged = stage(ctx, queries + q0 * layout_.dim, bq, args.n_probe, knobs);
      point_at(args, staged, 0);
      const std::int64_t items = static_cast<std::int64_t>(bq) * per_query;
      PqPartials partials = make_pq_partials(items, k, s);
      launch_sq_scan(args, items, k, partials.keys.data(), partials.rows.data(), s, sync);
      merge_partials(std::move(partials.keys), std::move(partials.rows), bq, per_query * k, k,
                     layout_.metric, nullptr, lists_->ids(), results.distances(q0),
                     results.labels(q0), s, sync);
      results.batch_done(q0, bq, s);
    }
    results.finish_and_wait(ctx);
    detail::require_not_flagged(*bad, !is_device_pointer(queries), nq, layout_.dim, queries,
                                "queries");
  }

  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::SearchKnobs& call_knobs) const override {
    DeviceGuard guard(device_);
    const detail::SearchKnobs knobs = with_workspace(call_knobs, device_);
    auto lease = streams_.acquire();
    StreamContext& ctx = *lease;
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const DeviceFilter filter = lists_->admitted(knobs.sel, s);
    SqScanArgs args = scan_args(knobs, filter.bits());
    const int per_query = args.n_probe * args.chunks;
    RangeSearchResult result;
    result.lims.assign(static_cast<std::size_t>(nq) + 1, 0);
    // Queries per chunk: their staged copies and probes within an eighth of the workspace.
    const std::int64_t per_query_bytes = static_cast<std::int64_t>(dp_) * 4 + args.n_probe * 24LL;
    const idx_t chunk = std::clamp<idx_t>(knobs.workspace_bytes / 8 / per_query_bytes, 1, 65535);
    volatile unsigned long long* bad = ctx.pinned_flag();
    for (idx_t q0 = 0; q0 < nq; q0 += chunk) {
      const int cq = static_cast<int>(std::min(chunk, nq - q0));
      const float* chunk_queries = queries + q0 * layout_.dim;
      *bad = 0;  // the previous chunk's work has finished (collect_range_chunk waits)
      const StagedQueries staged = stage(ctx, chunk_queries, cq, args.n_probe, knobs);
      collect_range_chunk(
          ctx, cq, layout_.metric, knobs.workspace_bytes / 2, lists_->ids(),
          [&](int* counters) {
            point_at(args, staged, 0);
            launch_sq_range(args, static_cast<std::int64_t>(cq) * per_query, radius, counters,
                            nullptr, s, sync);
          },
          [&] {
            detail::require_not_flagged(*bad, !is_device_pointer(chunk_queries), cq, layout_.dim,
                                        chunk_queries, "queries");
          },
          [&](int first, int n, int* cursors, const RangeOutput& out) {
            point_at(args, staged, first);
            launch_sq_range(args, static_cast<std::int64_t>(n) * per_query, radius, cursors, &out,
                            s, sync);
          },
          q0, result);
    }
    return result;
  }

  idx_t size() const override { return lists_->size(); }
  std::vector<idx_t> list_sizes() const override { return lists_->sizes(); }
  std::vector<idx_t> list_ids(int list) const override { return lists_->list_ids(list); }

  std::vector<std::uint8_t> list_codes(int list) const override {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(lists_->sizes()[list]) * code_size_);
    lists_->copy_list(list, static_cast<std::size_t>(code_size_), out.data());
    return out;
  }

  bool reconstruct(idx_t id, float* out) const override {
    for (int l = 0; l < layout_.n_lists; ++l) {
      const std::vector<idx_t>& ids = lists_->list_ids(l);
      const auto it = std::find(ids.begin(), ids.end(), id);
      if (it == ids.end()) continue;
      const std::vector<std::uint8_t> code = row_code(l, it - ids.begin());
      quantizer_->decode(1, code.data(), out);
      if (layout_.by_residual) {
        const float* c = host_centroids_.data() + static_cast<std::size_t>(l) * layout_.dim;
        for (int j = 0; j < layout_.dim; ++j) out[j] += c[j];
      }
      return true;
    }
    return false;
  }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    return lists_->remove_ids(sorted_ids);
  }

  void reset() override { lists_->reset(); }

 private:
  // n host codes with their ids appended to lists[i]. Strong guarantee (the arena's).
  void append(idx_t n, const std::uint8_t* codes, const idx_t* ids, const idx_t* lists) {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    DeviceBuffer<std::uint32_t> staged(
        static_cast<std::size_t>(std::max<idx_t>(n, 1)) * code_words_, s);
    upload_code_rows(staged.data(), code_words_, codes, code_size_, n, s);
    lists_->add(n, staged.data(), ids, lists);
  }

  // The code of entry `pos` of list `list`, copied from the device.
  std::vector<std::uint8_t> row_code(int list, idx_t pos) const {
    DeviceGuard guard(device_);
    std::int64_t offset = 0;
    KNNX_CUDA_CHECK(cudaMemcpy(&offset, lists_->device_offsets() + list, sizeof(offset),
                               cudaMemcpyDeviceToHost));
    std::vector<std::uint8_t> code(static_cast<std::size_t>(code_size_));
    KNNX_CUDA_CHECK(cudaMemcpy(
        code.data(), lists_->rows() + static_cast<std::size_t>(offset + pos) * code_words_,
        code.size(), cudaMemcpyDeviceToHost));
    return code;
  }

  // The fields of a scan that do not depend on the batch. Without a coarse quantizer the one
  // list is cut into chunks: enough blocks to fill the device at a few queries, each of at
  // least kMinRowsPerChunk rows.
  SqScanArgs scan_args(const detail::SearchKnobs& knobs, const std::uint32_t* allowed) const {
    SqScanArgs args{};
    args.type = layout_.type;
    args.metric = layout_.metric;
    args.dim = layout_.dim;
    args.codes = lists_->rows();
    args.code_words = code_words_;
    args.list_sizes = lists_->device_sizes();
    args.list_offsets = lists_->device_offsets();
    args.a = table_a_.data();
    args.b = table_b_.data();
    args.dp = dp_;
    args.allowed = allowed;
    if (layout_.coarse) {
      args.n_probe = std::clamp(knobs.nprobe, 1, layout_.n_lists);
      args.chunks = 1;
      args.rows_per_chunk =
          std::max<idx_t>(1, *std::max_element(lists_->sizes().begin(), lists_->sizes().end()));
      if (layout_.by_residual) args.centroids = centroids_.data();
    } else {
      const idx_t n = std::max<idx_t>(lists_->size(), 1);
      const int sms = device_properties(device_).multiProcessorCount;
      const idx_t want_chunks = std::max<idx_t>(1, 4LL * sms);
      args.n_probe = 1;
      args.rows_per_chunk = std::min<idx_t>(
          n, std::max<idx_t>(kMinRowsPerChunk, (n + want_chunks - 1) / want_chunks));
      args.chunks = static_cast<int>((n + args.rows_per_chunk - 1) / args.rows_per_chunk);
    }
    return args;
  }

  // Points args at the staged queries from query `first` on.
  void point_at(SqScanArgs& args, const StagedQueries& staged, int first) const {
    const std::int64_t f = first;
    args.queries = staged.queries.data() + f * dp_;
    args.probes = layout_.coarse ? staged.lists.data() + f * args.n_probe : nullptr;
  }

  // Queues the staging of nq queries (host or device) on ctx: padded to dp_, NaN/Inf or a norm
  // past the bound flagged into ctx's pinned flag, and (IVF) their n_probe lists.
  StagedQueries stage(StreamContext& ctx, const float* queries, int nq, int n_probe,
                      const detail::SearchKnobs& knobs) const {
    if (layout_.coarse) {
      ProbedQueries p =
          coarse_quantize(*coarse_, layout_.dim, dp_, ctx, queries, nq, n_probe, knobs);
      return {std::move(p.queries), std::move(p.lists)};
    }
    const cudaStream_t s = ctx.stream();
    DeviceBuffer<float> staged(static_cast<std::size_t>(nq) * dp_, s);
    copy_rows_padded(staged.data(), dp_, queries, layout_.dim, nq, s);
    launch_flag_unusable_rows(staged.data(), nq, dp_, dp_, ctx.pinned_flag(), s, knobs.sync_check);
    return {std::move(staged), {}};
  }

  detail::SqLayout layout_;
  int dp_;  // queries are staged padded to a multiple of 4 floats
  int code_size_;
  int code_words_;
  int device_;
  mutable StreamPool streams_;           // one stream per concurrent search
  std::unique_ptr<StreamContext> main_;  // storage changes (exclusive by contract)
  std::optional<ScalarQuantizer> quantizer_;
  DeviceBuffer<float> table_a_, table_b_;        // per-component tables of quantizer_
  std::unique_ptr<detail::FlatBackend> coarse_;  // the centroids (IVF), for coarse quantisation
  detail::IdMap identity_;                       // centroid ids are list numbers
  std::vector<float> host_centroids_;            // for residual encoding and reconstruct
  DeviceBuffer<float> centroids_;                // n_lists x dim, for L2 residual scans
  std::unique_ptr<DeviceListArena> lists_;       // rows of code_words_ words
};

}  // namespace

std::unique_ptr<detail::SqBackend> make_sq_backend(const detail::SqLayout& layout, int device) {
  return std::make_unique<SqCuda>(layout, device);
}

}  // namespace knnx::cuda
