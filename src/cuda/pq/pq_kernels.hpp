// cuda/pq/pq_kernels.hpp — launchers of the product-quantizer scans of IndexPQ and IndexIVFPQ
// on a GPU, and of the IVF-PQ precomputed table.
//
// Codes are stored in rows of row_words 32-bit words: code_words words of codes (code_size = M
// bytes, rounded up to a multiple of 4; byte m is sub-quantizer m's centroid number), then,
// for IVF-PQ's L2 row terms (L2RowTerm), the row's term as a float. The query part of each
// table (M x 256 floats) is built once a query, by launch_pq_query_tables, into global memory.
// A scan's unit of work is an item: one query and the rows it scans (IndexPQ: a chunk of all
// the rows; IndexIVFPQ: lists_per_item consecutive probed lists). The block copies the query's
// table into shared memory once (or, for the per-list L2 kinds, forms each list's table there
// before scanning it), sums each row's M table entries (in sub-quantizer order, as the CPU scan
// does) and feeds the sums to the same fused block selection as the IVF-Flat scan (select/
// block_select.cuh), writing the item's best k (key, row) to out[item * k ...] for a merge.
// Scores are minimised: L2 sums as they are, inner products negated.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace knnx::cuda {

// How a list's lookup table is made (q: the query, cb: codebook entry (m, j), c: the probed
// list's centroid, base: added to every sum), and the query table it starts from:
//   L2Residual:    ||(q - c)_m - cb||^2, base 0: built per (query, list), no query table (the
//                  IVF fallback when no precomputed table is held);
//   L2Precomputed: pre[list][m][j] + query table -2 <q_m, cb>, base = ||q - c||^2 (the coarse
//                  distance): the sum formed per (query, list);
//   L2RowTerm:     query table -2 <q_m, cb>, base = ||q - c||^2 + the row's term
//                  ||y||^2 + 2 <c, y> (y: the decoded residual; launch_pq_row_terms), the
//                  precomputed table summed over the row's codes once, when it was added;
//   L2Query:       query table ||q_m - cb||^2, base 0 (IndexPQ, L2);
//   Inner:         query table -<q_m, cb>, base = -<q, c> (IndexPQ: 0).
// The last two are the same for every list a query scans: one copy a block.
enum class PqTable { L2Residual, L2Precomputed, L2RowTerm, L2Query, Inner };

// Whether the kind reads a query table (built by launch_pq_query_tables).
inline bool pq_needs_query_table(PqTable t) { return t != PqTable::L2Residual; }

struct PqScanArgs {
  // The codes and their codebook (M x 256 x dsub floats).
  const std::uint32_t* codes;
  int code_words;
  int row_words;
  int M;
  int dsub;
  const float* codebook;
  // Staged queries, rows of dp floats.
  const float* queries;
  int dp;
  // The batch's query tables (queries x M x 256 floats), when the kind needs them.
  const float* query_tables;

  // IndexIVFPQ (ivf true): item q * ceil(n_probe / lists_per_item) + g scans lists
  // probes[q][p] (-1: nothing) for p in [g * lists_per_item, (g + 1) * lists_per_item) within
  // n_probe, whose centroid distances are probe_dist[q][p]; centroids (n_lists x dim) and
  // precomputed (n_lists x M x 256) as the table kind needs them.
  bool ivf;
  const std::int64_t* probes;
  const float* probe_dist;
  int n_probe;
  int lists_per_item;
  const std::int64_t* list_sizes;
  const std::int64_t* list_offsets;
  const float* centroids;
  int dim;
  const float* precomputed;

  // IndexPQ (ivf false): item q * chunks + c scans rows [c * rows_per_chunk, ...) of n_rows.
  std::int64_t n_rows;
  int rows_per_chunk;
  int chunks;

  int k;
  // Bitmap of the rows a filtered search may return (core/admitted_bitmap.hpp), or null.
  const std::uint32_t* allowed;
  std::uint32_t* out_keys;
  std::int32_t* out_rows;
};

// Bytes of one table.
inline std::size_t pq_table_bytes(int M) { return static_cast<std::size_t>(M) * 256 * 4; }

// Shared memory a scan block of kind `table` uses besides its table: the selection's (args.k)
// and, for L2RowTerm, one round's rows (kSelectThreads x row_words words), copied in by
// coalesced loads since rows of code_words + 1 words rule out 16-byte loads of each row.
std::size_t pq_scan_smem_bytes(const PqScanArgs& args, PqTable table);

// Whether a block holds its table in shared memory for args (M, k, row_words) and `table` on
// `device`; otherwise the scan keeps tables in global memory (see launch_pq_scan).
bool pq_table_in_shared(const PqScanArgs& args, PqTable table, int device);

// Blocks of the scan one multiprocessor of `device` holds at once for args and `table` (bounded by
// threads and shared memory): with the multiprocessor count, how many items fill the device.
int pq_scan_blocks_per_sm(const PqScanArgs& args, PqTable table, int device);

// Items of an IVF-PQ scan a query: lists_per_item consecutive probes each.
__host__ __device__ inline int pq_items_per_query(int n_probe, int lists_per_item) {
  return (n_probe + lists_per_item - 1) / lists_per_item;
}

// args.query_tables[q] for each of n_queries staged queries (args.queries): the query part of
// `table`'s lookup tables (see PqTable), M x 256 floats a query. Nothing for L2Residual.
void launch_pq_query_tables(const PqScanArgs& args, PqTable table, int n_queries, float* out,
                            cudaStream_t stream, bool sync_check);

// Scans items [0, n_items) of `args` with table kind `table`. With tables in shared memory
// (pq_table_in_shared) global_tables is ignored; otherwise the query-only kinds (L2Query,
// Inner) read their query's table where it is, and the per-list kinds need global_tables of
// global_table_slots tables: the items run in waves of that many blocks, each forming its
// tables there.
void launch_pq_scan(const PqScanArgs& args, PqTable table, std::int64_t n_items, int device,
                    float* global_tables, std::int64_t global_table_slots, cudaStream_t stream,
                    bool sync_check);

// Where IVF-PQ rows keep their L2 term (the word after the codes) and what it sums.
struct PqRowTerms {
  std::uint32_t* rows;  // rows of row_words words, the term in word code_words
  int row_words;
  int code_words;
  const float* codebook;   // M x 256 x dim / M floats
  const float* centroids;  // n_lists x dim floats
  int M;
  int dim;
};

// Each of n staged rows' term, the precomputed table's entries (||cb(m, j)||^2 + 2 <c_l sub-
// vector m, cb(m, j)>, as launch_pq_precompute) of its codes summed in sub-quantizer order,
// for list lists[i] (device, n entries).
void launch_pq_row_terms(const PqRowTerms& t, std::int64_t n, const std::int64_t* lists,
                         cudaStream_t stream, bool sync_check);
// The terms of every row of n_lists lists (rows [offsets[l], offsets[l] + sizes[l]), device
// arrays): after the codebook or centroids change.
void launch_pq_list_row_terms(const PqRowTerms& t, int n_lists, const std::int64_t* sizes,
                              const std::int64_t* offsets, cudaStream_t stream, bool sync_check);

// The query-independent part of IVF-PQ's L2 tables (FAISS's precomputed table):
// out[l][m][j] = ||cb(m, j)||^2 + 2 <c_l sub-vector m, cb(m, j)> for n_lists centroids
// (n_lists x dim floats).
void launch_pq_precompute(const float* centroids, int n_lists, int dim, const float* codebook,
                          int M, float* out, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
