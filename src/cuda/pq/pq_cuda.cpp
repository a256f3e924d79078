// CUDA backends of IndexPQ and IndexIVFPQ.
//
// IndexPQ keeps its codes in one device array of rows (pq_code_words words each) and scans them
// in chunks, one block per (query, chunk). IndexIVFPQ keeps its centroids in a CUDA flat
// backend (coarse quantisation, as IVF-Flat) and on the device for the tables, and its codes in
// a DeviceListArena, the storage IVF-Flat's lists use; one block per (query, group of probed
// lists) scans them. Each search batch first builds every query's table once (M x 256 floats,
// pq_kernels.hpp); both backends feed the fused block selection and merge each query's partial
// results with the IVF-Flat merge (select/merge_tree.hpp). Tables, as on the CPU
// (src/cpu/ivf_pq_cpu.cpp): for the inner product -<q, r> over the negated coarse score; for L2
// with use_precomputed_table, -2 <q, r> over the coarse distance plus the query-independent
// term ||r||^2 + 2 <c, r>, summed over each row's codes when the row is stored (a float after
// the codes, for codes of 32 bytes and more) or else added per (query, list) from the
// per-list table (n_lists x M x 256 floats, built when within detail::kMaxPrecomputedTableBytes);
// otherwise the residual q - c's tables, built per (query, list). A table lives in shared
// memory when it fits beside the selection (M x 256 floats: M <= 128 on an H100 for any k),
// otherwise in global memory (pq_kernels.hpp).
#include "cuda/pq/pq_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "core/id_map.hpp"
#include "cuda/common/device_filter.hpp"
#include "cuda/common/device_ids.hpp"
#include "cuda/common/row_kernels.hpp"
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_search.hpp"
#include "cuda/ivf/list_arena.hpp"
#include "cuda/pq/pq_kernels.hpp"
#include "cuda/pq/pq_search_common.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/search_results.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "cuda/runtime/workspace.hpp"
#include "cuda/select/merge_tree.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

// Fewest code rows one block scans (an IndexPQ chunk; an IVF-PQ item's lists, while the
// device stays full): amortises copying its table (M x 256 floats, 1 KiB a code byte) into
// shared memory, a quarter of the codes' bytes at 4096 rows.
constexpr idx_t kMinRowsPerItem = 4096;

// What both backends hold: the shapes, the device with its streams, and the codebook on it.
// Destroyed after the backend's own buffers, it waits for their stream-ordered frees.
class PqOnDevice {
 protected:
  // Range search has no kernel on the device yet; the CPU index of the same kind has it.
  [[noreturn]] void no_range_search(const char* index) const {
    throw NotSupported(fmt::format(
        "range_search of an {} on CUDA device {} is not available; search, or range-search a "
        "CPU copy of the index",
        index, device_));
  }

  PqOnDevice(int dim, int code_size, Metric metric, int device)
      : dim_(dim),
        dp_((dim + 3) / 4 * 4),
        code_size_(code_size),
        code_words_(pq_code_words(code_size)),
        metric_(metric),
        device_(device),
        streams_(device) {
    DeviceGuard guard(device_);
    init_device_pool(device_);
    main_ = std::make_unique<StreamContext>(device_);
  }

  ~PqOnDevice() {
    DeviceGuard guard(device_);
    codebook_ = nullptr;
    cudaStreamSynchronize(main_->stream());
  }

  // The fields of a scan's arguments both backends fill alike (the codebook uploaded if new).
  PqScanArgs scan_args(const ProductQuantizer& pq, const std::uint32_t* codes, int k,
                       const std::uint32_t* allowed) const {
    PqScanArgs args{};
    args.codes = codes;
    args.code_words = code_words_;
    args.row_words = code_words_;
    args.M = pq.M();
    args.dsub = pq.dsub();
    args.codebook = codebook_->get(pq, *main_);
    args.dp = dp_;
    args.k = k;
    args.allowed = allowed;
    return args;
  }

  // A search on ctx's stream, in batches of queries whose scratch (staged_bytes a query, its
  // query table, the partial results of up to max_items_per_query items and the first level
  // of their merge tree, and any global tables) fits knobs.workspace_bytes: stage(bq,
  // batch_queries, args) queues the staging of a batch (queries padded and checked for NaN/Inf
  // into ctx's flag, probes), points args at it and returns the staged buffers; then the
  // query tables, the scan and the merge, rows labelled through ids (null: row numbers). An
  // IVF scan groups mean_list_rows-row lists into items (pq_lists_per_item) once the batch
  // size is known; IndexPQ's items are its max_items_per_query chunks. The host waits once, at
  // the end.
  template <typename Stage>
  void run_batches(StreamContext& ctx, idx_t nq, const float* queries, int k, float* distances,
                   idx_t* labels, const detail::SearchKnobs& call_knobs, PqScanArgs& args,
                   PqTable table, int max_items_per_query, std::int64_t staged_bytes,
                   std::int64_t mean_list_rows, const std::int64_t* ids, Stage&& stage) const {
    const detail::SearchKnobs knobs = with_workspace(call_knobs, device_);
    const cudaStream_t s = ctx.stream();
    const bool sync = knobs.sync_check;
    const bool shared = pq_table_in_shared(args, table, device_);
    const bool query_tables = pq_needs_query_table(table);
    const bool per_list = table == PqTable::L2Residual || table == PqTable::L2Precomputed;
    // Per-list tables in global memory when a block's shared memory is too small.
    std::int64_t slots = 0;
    DeviceBuffer<float> tables;
    if (!shared && per_list) {
      slots = pq_global_table_slots(args.M, nq * max_items_per_query, knobs.workspace_bytes);
      tables = DeviceBuffer<float>(static_cast<std::size_t>(slots) * args.M * 256, s);
    }
    const std::int64_t table_bytes = static_cast<std::int64_t>(pq_table_bytes(args.M));
    const std::int64_t per_query = staged_bytes + (query_tables ? table_bytes : 0) +
                                   static_cast<std::int64_t>(max_items_per_query) * k * 9;
    const idx_t batch = pq_query_batch(nq, per_query, slots * table_bytes, knobs,
                                       args.ivf ? "IndexIVFPQ" : "IndexPQ", k);
    int items_per_query = max_items_per_query;
    if (args.ivf) {
      const std::int64_t fill = 2LL * pq_scan_blocks_per_sm(args, table, device_) *
                                device_properties(device_).multiProcessorCount;
      args.lists_per_item = pq_lists_per_item(args.n_probe, mean_list_rows, std::min(batch, nq),
                                              fill, kMinRowsPerItem);
      items_per_query = pq_items_per_query(args.n_probe, args.lists_per_item);
    }
    const SearchResults results(distances, labels, nq, k, batch, knobs.workspace_bytes, s);
    volatile unsigned long long* bad = ctx.pinned_flag();
    *bad = 0;
    for (idx_t q0 = 0; q0 < nq; q0 += batch) {
      const int bq = static_cast<int>(std::min(batch, nq - q0));
      const auto staged = stage(bq, queries + q0 * dim_, args);
      DeviceBuffer<float> batch_tables;
      if (query_tables) {
        batch_tables = DeviceBuffer<float>(static_cast<std::size_t>(bq) * args.M * 256, s);
        launch_pq_query_tables(args, table, bq, batch_tables.data(), s, sync);
      }
      args.query_tables = batch_tables.data();
      const std::int64_t items = static_cast<std::int64_t>(bq) * items_per_query;
      PqPartials partials = make_pq_partials(items, k, s);
      args.out_keys = partials.keys.data();
      args.out_rows = partials.rows.data();
      launch_pq_scan(args, table, items, device_, tables.data(), slots, s, sync);
      merge_partials(std::move(partials.keys), std::move(partials.rows), bq, items_per_query * k, k,
                     metric_, nullptr, ids, results.distances(q0), results.labels(q0), s, sync);
      results.batch_done(q0, bq, s);
    }
    results.finish_and_wait(ctx);
    detail::require_not_flagged(*bad, !is_device_pointer(queries), nq, dim_, queries, "queries");
  }

  int dim_;
  int dp_;  // queries are staged padded to a multiple of 4 floats
  int code_size_;
  int code_words_;
  Metric metric_;
  int device_;
  mutable StreamPool streams_;           // one stream per concurrent search
  std::unique_ptr<StreamContext> main_;  // storage changes (exclusive by contract)
  std::unique_ptr<DeviceCodebook> codebook_ = std::make_unique<DeviceCodebook>();
};

class PqCuda final : public detail::PqBackend, private PqOnDevice {
 public:
  PqCuda(int dim, int code_size, Metric metric, int device)
      : PqOnDevice(dim, code_size, metric, device) {}

  ~PqCuda() override {
    DeviceGuard guard(device_);
    codes_.release();
    ids_dev_.release();
  }

  idx_t size() const override { return n_; }

  void add(idx_t n, const std::uint8_t* codes) override {
    detail::require(n_ + n <= INT32_MAX, "a GPU PQ index holds at most {} vectors, got {} + {}",
                    INT32_MAX, n_, n);
    if (n == 0) return;
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const std::size_t words = static_cast<std::size_t>(code_words_);
    DeviceBuffer<std::uint32_t> grown;
    std::uint32_t* dst = codes_.data();
    if (n_ + n > capacity_) {
      const idx_t cap = std::max<idx_t>({n_ + n, 2 * capacity_, 1024});
      grown = DeviceBuffer<std::uint32_t>(static_cast<std::size_t>(cap) * words, s);
      if (n_ > 0) {
        KNNX_CUDA_CHECK(cudaMemcpyAsync(grown.data(), codes_.data(),
                                        sizeof(std::uint32_t) * words * n_,
                                        cudaMemcpyDeviceToDevice, s));
      }
      dst = grown.data();
    }
    upload_code_rows(dst + static_cast<std::size_t>(n_) * words, code_words_, codes, code_size_, n,
                     s);
    main_->synchronize();
    if (grown.data() != nullptr) {
      codes_.swap(grown);
      capacity_ = static_cast<idx_t>(codes_.size() / words);
    }
    n_ += n;
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const ProductQuantizer& pq, const detail::IdMap& ids,
              const detail::SearchKnobs& knobs) const override {
    if (nq == 0) return;
    check_k_in_block_range(k, "IndexPQ");
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const cudaStream_t s = lease->stream();
    const DeviceFilter filter = admitted_rows(ids, n_, knobs.sel, s);
    // Chunks of rows: enough blocks to fill the device, each long enough to pay for its table.
    const int sms = device_properties(device_).multiProcessorCount;
    const idx_t want_chunks = std::max<idx_t>(1, (4LL * sms + nq - 1) / nq);
    const idx_t rows_per_chunk =
        std::min<idx_t>(std::max<idx_t>(kMinRowsPerItem, (n_ + want_chunks - 1) / want_chunks),
                        std::max<idx_t>(n_, 1));
    const int chunks =
        static_cast<int>(std::max<idx_t>(1, (n_ + rows_per_chunk - 1) / rows_per_chunk));
    PqScanArgs args = scan_args(pq, codes_.data(), k, filter.bits());
    args.ivf = false;
    args.n_rows = n_;
    args.rows_per_chunk = static_cast<int>(rows_per_chunk);
    args.chunks = chunks;
    const PqTable table = metric_ == Metric::L2 ? PqTable::L2Query : PqTable::Inner;
    const bool sync = knobs.sync_check;
    run_batches(*lease, nq, queries, k, distances, labels, knobs, args, table, chunks,
                static_cast<std::int64_t>(dp_) * 4, 0, ids_dev_.get(ids, *main_),
                [&](int bq, const float* batch_queries, PqScanArgs& a) {
                  DeviceBuffer<float> staged(static_cast<std::size_t>(bq) * dp_, s);
                  copy_rows_padded(staged.data(), dp_, batch_queries, dim_, bq, s);
                  launch_flag_unusable_rows(staged.data(), bq, dp_, dp_, lease->pinned_flag(), s,
                                            sync);
                  a.queries = staged.data();
                  return staged;
                });
  }

  RangeSearchResult range_search(idx_t, const float*, float, const ProductQuantizer&,
                                 const detail::IdMap&, const detail::SearchKnobs&) const override {
    no_range_search("IndexPQ");
  }

  void remove_rows(const std::vector<std::uint8_t>& remove) override {
    std::vector<std::uint8_t> all = codes(0, n_);
    const std::size_t cs = static_cast<std::size_t>(code_size_);
    std::size_t kept = 0;
    for (std::size_t r = 0; r < remove.size(); ++r) {
      if (remove[r] != 0) continue;
      if (kept != r) std::copy_n(all.data() + r * cs, cs, all.data() + kept * cs);
      ++kept;
    }
    if (kept == static_cast<std::size_t>(n_)) return;
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    DeviceBuffer<std::uint32_t> fresh(std::max<std::size_t>(codes_.size(), 1),
                                      s);  // same capacity, compacted
    upload_code_rows(fresh.data(), code_words_, all.data(), code_size_, static_cast<idx_t>(kept),
                     s);
    main_->synchronize();
    codes_.swap(fresh);
    n_ = static_cast<idx_t>(kept);
  }

  std::vector<std::uint8_t> codes(idx_t row0, idx_t n) const override {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n) * code_size_);
    if (n == 0) return out;
    DeviceGuard guard(device_);
    const std::size_t pitch = sizeof(std::uint32_t) * static_cast<std::size_t>(code_words_);
    KNNX_CUDA_CHECK(cudaMemcpy2D(out.data(), static_cast<std::size_t>(code_size_),
                                 codes_.data() + static_cast<std::size_t>(row0) * code_words_,
                                 pitch, static_cast<std::size_t>(code_size_),
                                 static_cast<std::size_t>(n), cudaMemcpyDeviceToHost));
    return out;
  }

  void reset() override {
    DeviceGuard guard(device_);
    codes_.release();
    capacity_ = 0;
    n_ = 0;
  }

 private:
  idx_t n_ = 0;
  idx_t capacity_ = 0;
  DeviceBuffer<std::uint32_t> codes_;  // capacity_ x code_words_
  DeviceIds ids_dev_;                  // the ids, when they are not the row numbers
};

class IvfPqCuda final : public detail::IvfPqBackend, private PqOnDevice {
 public:
  IvfPqCuda(int dim, int n_lists, int code_size, Metric metric, int device)
      : PqOnDevice(dim, code_size, metric, device), n_lists_(n_lists) {
    DeviceGuard guard(device_);
    coarse_ = make_flat_backend(dim, metric, device);
    lists_ = std::make_unique<DeviceListArena>(n_lists, row_words_, device_, *main_);
  }

  ~IvfPqCuda() override {
    DeviceGuard guard(device_);
    lists_.reset();
    centroids_.release();
    precomputed_.release();
    term_codebook_.release();
  }

  int n_lists() const override { return n_lists_; }

  void set_centroids(const float* centroids) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const std::size_t count = detail::checked_elements(n_lists_, dim_, "centroids");
    DeviceBuffer<float> fresh(count, s);
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(fresh.data(), centroids, sizeof(float) * count, cudaMemcpyHostToDevice, s));
    main_->synchronize();
    coarse_->reset();
    coarse_->add(n_lists_, centroids);
    centroids_.swap(fresh);
    precomputed_.release();  // built from the old centroids
    row_terms_ = false;
  }

  std::vector<float> centroids() const override {
    if (coarse_->size() == 0) {
      return std::vector<float>(detail::checked_elements(n_lists_, dim_, "centroids"), 0.0f);
    }
    return coarse_->vectors();
  }

  void assign(idx_t n, const float* x, idx_t* lists) const override {
    std::vector<float> dist(static_cast<std::size_t>(n));
    coarse_->search(n, x, 1, dist.data(), lists, identity_, detail::default_search_knobs());
  }

  void prepare(const ProductQuantizer& pq, bool use_table) override {
    DeviceGuard guard(device_);
    precomputed_.release();
    row_terms_ = false;
    const float* codebook = codebook_->get(pq, *main_);
    if (metric_ != Metric::L2 || !use_table || centroids_.data() == nullptr) return;
    if (row_words_ > code_words_) {
      prepare_row_terms(pq, codebook);
      return;
    }
    const std::size_t bytes = static_cast<std::size_t>(n_lists_) * pq_table_bytes(pq.M());
    if (bytes > detail::kMaxPrecomputedTableBytes) return;  // per-list tables at search time
    const cudaStream_t s = main_->stream();
    DeviceBuffer<float> table;
    try {
      table = DeviceBuffer<float>(bytes / sizeof(float), s);
    } catch (const OutOfMemory&) {
      return;  // the table is an optimisation: search without it
    }
    launch_pq_precompute(centroids_.data(), n_lists_, dim_, codebook, pq.M(), table.data(), s,
                         config().sync_check);
    main_->synchronize();
    precomputed_.swap(table);
  }

  bool has_precomputed_table() const override {
    return precomputed_.data() != nullptr || row_terms_;
  }

  void reserve_lists(const std::vector<idx_t>& sizes) override { lists_->reserve(sizes); }
  void add(idx_t n, const std::uint8_t* codes, const idx_t* ids, const idx_t* lists) override {
    DeviceGuard guard(device_);
    const cudaStream_t s = main_->stream();
    const std::size_t rows = static_cast<std::size_t>(std::max<idx_t>(n, 1));
    DeviceBuffer<std::uint32_t> staged(rows * row_words_, s);
    upload_code_rows(staged.data(), row_words_, codes, code_size_, n, s);  // terms zeroed
    DeviceBuffer<std::int64_t> dev_lists;
    if (row_terms_ && n > 0) {
      dev_lists = DeviceBuffer<std::int64_t>(rows, s);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(dev_lists.data(), lists, sizeof(std::int64_t) * n,
                                      cudaMemcpyHostToDevice, s));
      launch_pq_row_terms(row_terms(staged.data()), n, dev_lists.data(), s, config().sync_check);
    }
    lists_->add(n, staged.data(), ids, lists);
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const ProductQuantizer& pq, const detail::SearchKnobs& knobs) const override {
    if (nq == 0) return;
    check_k_in_block_range(k, "IndexIVFPQ");
    DeviceGuard guard(device_);
    auto lease = streams_.acquire();
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    const DeviceFilter filter = lists_->admitted(knobs.sel, lease->stream());
    PqScanArgs args = scan_args(pq, lists_->rows(), k, filter.bits());
    args.ivf = true;
    args.n_probe = n_probe;
    args.list_sizes = lists_->device_sizes();
    args.list_offsets = lists_->device_offsets();
    args.centroids = centroids_.data();
    args.dim = dim_;
    args.precomputed = precomputed_.data();
    args.row_words = row_words_;
    PqTable table = PqTable::Inner;
    if (metric_ == Metric::L2) {
      table = row_terms_                       ? PqTable::L2RowTerm
              : precomputed_.data() != nullptr ? PqTable::L2Precomputed
                                               : PqTable::L2Residual;
    }
    // Staged: the padded query, its probes and their centroid distances.
    const std::int64_t staged_bytes = static_cast<std::int64_t>(dp_) * 4 + n_probe * 12LL;
    const std::int64_t mean_list_rows = lists_->size() / n_lists_;
    run_batches(
        *lease, nq, queries, k, distances, labels, knobs, args, table, n_probe, staged_bytes,
        mean_list_rows, lists_->ids(), [&](int bq, const float* batch_queries, PqScanArgs& a) {
          ProbedQueries probed =
              coarse_quantize(*coarse_, dim_, dp_, *lease, batch_queries, bq, n_probe, knobs);
          a.queries = probed.queries.data();
          a.probes = probed.lists.data();
          a.probe_dist = probed.distances.data();
          return probed;
        });
  }

  RangeSearchResult range_search(idx_t, const float*, float, const ProductQuantizer&,
                                 const detail::SearchKnobs&) const override {
    no_range_search("IndexIVFPQ");
  }

  idx_t size() const override { return lists_->size(); }
  std::vector<idx_t> list_sizes() const override { return lists_->sizes(); }

  std::vector<std::uint8_t> list_codes(int list) const override {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(lists_->sizes()[list]) * code_size_);
    lists_->copy_list(list, static_cast<std::size_t>(code_size_), out.data());
    return out;
  }

  std::vector<idx_t> list_ids(int list) const override { return lists_->list_ids(list); }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    return lists_->remove_ids(sorted_ids);
  }

  void reset() override { lists_->reset(); }

 private:
  // L2 rows keep their term after the codes (PqTable::L2RowTerm) when it adds at most an
  // eighth to a row's bytes; shorter codes keep the per-list precomputed table, whose
  // per-(query, list) sum (M x 256 floats) is small beside reading them.
  static constexpr int kRowTermMinCodeWords = 8;
  static int arena_row_words(Metric metric, int code_words) {
    return code_words + (metric == Metric::L2 && code_words >= kRowTermMinCodeWords ? 1 : 0);
  }

  // Where the row terms go (rows of the arena or staged rows) and what they sum.
  PqRowTerms row_terms(std::uint32_t* rows) const {
    return PqRowTerms{rows,    row_words_, code_words_, term_codebook_.data(), centroids_.data(),
                      term_M_, dim_};
  }

  // The terms of every stored row from pq's codebook (on the device at `codebook`), and a
  // copy of it for later adds. Without the memory for the copy, searches build each probed
  // list's tables instead.
  void prepare_row_terms(const ProductQuantizer& pq, const float* codebook) {
    const cudaStream_t s = main_->stream();
    const std::size_t floats = pq.centroids().size();
    DeviceBuffer<float> copy;
    try {
      copy = DeviceBuffer<float>(std::max<std::size_t>(floats, 1), s);
    } catch (const OutOfMemory&) {
      return;  // the terms are an optimisation
    }
    KNNX_CUDA_CHECK(cudaMemcpyAsync(copy.data(), codebook, sizeof(float) * floats,
                                    cudaMemcpyDeviceToDevice, s));
    term_codebook_.swap(copy);
    term_M_ = pq.M();
    launch_pq_list_row_terms(row_terms(lists_->mutable_rows()), n_lists_, lists_->device_sizes(),
                             lists_->device_offsets(), s, config().sync_check);
    main_->synchronize();
    row_terms_ = true;
  }

  int n_lists_;
  int row_words_ = arena_row_words(metric_, code_words_);  // words of an arena row
  bool row_terms_ = false;  // the rows' terms are current (prepare_row_terms)
  int term_M_ = 0;
  DeviceBuffer<float> term_codebook_;            // the codebook the terms were summed from
  std::unique_ptr<detail::FlatBackend> coarse_;  // the centroids, for coarse quantisation
  detail::IdMap identity_;                       // centroid ids are list numbers
  std::unique_ptr<DeviceListArena> lists_;       // rows of row_words_ words
  DeviceBuffer<float> centroids_;                // n_lists x dim, for the residual tables
  DeviceBuffer<float> precomputed_;              // n_lists x M x 256, or empty
};

}  // namespace

std::unique_ptr<detail::PqBackend> make_pq_backend(int dim, int code_size, Metric metric,
                                                   int device) {
  return std::make_unique<PqCuda>(dim, code_size, metric, device);
}

std::unique_ptr<detail::IvfPqBackend> make_ivf_pq_backend(int dim, int n_lists, int code_size,
                                                          Metric metric, int device) {
  return std::make_unique<IvfPqCuda>(dim, n_lists, code_size, metric, device);
}

}  // namespace knnx::cuda
