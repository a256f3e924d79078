// Product-quantizer scans: the query tables built once a query, then per item the table in
// shared (or global) memory and the codes scanned through the fused block selection.
#include <algorithm>

#include "cuda/common/admitted.cuh"
#include "cuda/pq/pq_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/block_select.cuh"
#include "cuda/select/block_select_store.cuh"

namespace knnx::cuda {
namespace {

constexpr int kThreads = kSelectThreads;
constexpr int kKsub = 256;  // entries of one sub-quantizer's table (8-bit codes)

// Entry e (sub-quantizer e / 256) of one query's table for the query-table kinds, as the
// per-list tables always were: the same operations in the same order, so the sums are
// unchanged.
template <PqTable kTable>
__device__ __forceinline__ float query_entry(const float* __restrict__ q,
                                             const float* __restrict__ codebook, int ds, int e) {
  const int m = e >> 8;
  const float* cb = codebook + static_cast<std::int64_t>(e) * ds;
  const float* qs = q + m * ds;
  float s = 0.0f;
  if constexpr (kTable == PqTable::L2Query) {
    for (int t = 0; t < ds; ++t) {
      const float d = qs[t] - __ldg(cb + t);
      s += d * d;
    }
  } else {
    for (int t = 0; t < ds; ++t) s += qs[t] * __ldg(cb + t);
    s = kTable == PqTable::L2Precomputed || kTable == PqTable::L2RowTerm ? s * -2.0f : -s;
  }
  return s;
}

// One thread per entry of n_queries query tables (M x 256 floats each).
template <PqTable kTable>
__global__ void pq_query_table_kernel(const PqScanArgs a, int n_queries, float* __restrict__ out) {
  const std::int64_t entries = static_cast<std::int64_t>(a.M) * kKsub;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= entries * n_queries) return;
  const std::int64_t q = i / entries;
  const int e = static_cast<int>(i - q * entries);
  out[i] = query_entry<kTable>(a.queries + q * a.dp, a.codebook, a.dsub, e);
}

// The L2Residual table of query row q and list `list` (IndexIVFPQ without a precomputed table).
__device__ void build_residual_table(const PqScanArgs& a, const float* __restrict__ q,
                                     std::int64_t list, float* table) {
  const int entries = a.M * kKsub;
  const int ds = a.dsub;
  const float* centroid = a.centroids + list * a.dim;
  for (int e = threadIdx.x; e < entries; e += blockDim.x) {
    const int m = e >> 8;
    const float* cb = a.codebook + static_cast<std::int64_t>(e) * ds;
    const float* qs = q + m * ds;
    const float* cs = centroid + m * ds;
    float s = 0.0f;
    for (int t = 0; t < ds; ++t) {
      const float r = qs[t] - cs[t];
      const float d = r - __ldg(cb + t);
      s += d * d;
    }
    table[e] = s;
  }
}

// table = qt (+ pre): M x 256 floats, by 16-byte loads (entries are a multiple of 256 and
// every table starts 16-byte aligned).
template <bool kAddPre>
__device__ void form_table(const float* __restrict__ qt, const float* __restrict__ pre, int M,
                           float* table) {
  const int quads = M * (kKsub / 4);
  const float4* q4 = reinterpret_cast<const float4*>(qt);
  float4* t4 = reinterpret_cast<float4*>(table);
  for (int i = threadIdx.x; i < quads; i += blockDim.x) {
    float4 v = __ldg(q4 + i);
    if constexpr (kAddPre) {
      const float4 p = __ldg(reinterpret_cast<const float4*>(pre) + i);
      // pre + query part, the order in which the per-list tables always added them
      v = make_float4(p.x + v.x, p.y + v.y, p.z + v.z, p.w + v.w);
    }
    t4[i] = v;
  }
}

// s plus the table entries of the (up to) four codes of sub-quantizers m0 .. m0 + 3 < M packed
// in word (sub-quantizer m0 in the low byte), added in sub-quantizer order.
__device__ __forceinline__ float add_entries(const float* table, int m0, int M, std::uint32_t word,
                                             float s) {
#pragma unroll
  for (int b = 0; b < 4; ++b) {
    const int m = m0 + b;
    if (m < M) s += table[m * kKsub + ((word >> (8 * b)) & 0xFFu)];
  }
  return s;
}

// Offers rows [row0, row0 + n) of the codes to sel, each scored base (+ its row term) + its
// table entries. Every thread of the block calls it with the same row0, n.
// kRowTerm: each round's rows (contiguous in the list) are first copied into `staged`
// (kThreads x row_words words) by coalesced 4-byte loads; a thread then reads its row there
// (an odd or small stride: no bank conflicts beyond those of the table lookups).
template <bool kFiltered, bool kRowTerm>
__device__ void scan_rows(const PqScanArgs& a, const float* table, std::int64_t row0,
                          std::int64_t n, float base, BlockSelect& sel, std::uint32_t* staged) {
  for (std::int64_t r0 = 0; r0 < n; r0 += kThreads) {
    sel.begin_round(kThreads);  // its barrier: every thread is done with the last round's rows
    const std::int64_t j = r0 + threadIdx.x;
    const std::int64_t row = row0 + j;
    if constexpr (kRowTerm) {
      const int words =
          static_cast<int>(min(static_cast<std::int64_t>(kThreads), n - r0)) * a.row_words;
      const std::uint32_t* src = a.codes + (row0 + r0) * a.row_words;
      for (int w = threadIdx.x; w < words; w += kThreads) staged[w] = __ldg(src + w);
      __syncthreads();
    }
    bool valid = j < n;
    if constexpr (kFiltered) valid = valid && admitted(a.allowed, row);
    float s = base;
    if (valid) {
      const std::uint32_t* code =
          kRowTerm ? staged + threadIdx.x * a.row_words : a.codes + row * a.row_words;
      if constexpr (kRowTerm) {
        s += __uint_as_float(code[a.code_words]);
        for (int w = 0; w < a.code_words; ++w) s = add_entries(table, 4 * w, a.M, code[w], s);
      } else if (a.code_words % 4 == 0 && a.row_words % 4 == 0) {  // 16-byte loads
        const uint4* code4 = reinterpret_cast<const uint4*>(code);
        for (int w = 0; w < a.code_words / 4; ++w) {
          const uint4 v = __ldg(code4 + w);
          s = add_entries(table, 16 * w, a.M, v.x, s);
          s = add_entries(table, 16 * w + 4, a.M, v.y, s);
          s = add_entries(table, 16 * w + 8, a.M, v.z, s);
          s = add_entries(table, 16 * w + 12, a.M, v.w, s);
        }
      } else {
        for (int w = 0; w < a.code_words; ++w) {
          s = add_entries(table, 4 * w, a.M, __ldg(code + w), s);
        }
      }
    }
    sel.offer(valid, float_to_key(s), static_cast<std::int32_t>(row));
  }
}

// One block per item (item0 + blockIdx.x). kSharedTable: the table lives in shared memory
// before the selection's buffers; otherwise the query-only kinds read the query table in
// place and the per-list kinds form theirs in global_tables slot blockIdx.x.
template <PqTable kTable, bool kFiltered, bool kSharedTable>
__global__ void __launch_bounds__(kThreads)
    pq_scan_kernel(const PqScanArgs a, std::int64_t item0, float* __restrict__ global_tables) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr bool kPerList = kTable == PqTable::L2Residual || kTable == PqTable::L2Precomputed;
  const std::int64_t item = item0 + blockIdx.x;
  const int per_query = a.ivf ? pq_items_per_query(a.n_probe, a.lists_per_item) : a.chunks;
  const std::int64_t query = item / per_query;
  const int slot = static_cast<int>(item - query * per_query);
  const std::size_t table_floats = static_cast<std::size_t>(a.M) * kKsub;
  const float* query_table =
      kTable == PqTable::L2Residual ? nullptr : a.query_tables + query * table_floats;

  float* table = nullptr;
  if constexpr (kSharedTable) {
    table = reinterpret_cast<float*>(smem);
  } else if constexpr (kPerList) {
    table = global_tables + static_cast<std::size_t>(blockIdx.x) * table_floats;
  }
  unsigned char* select_smem = kSharedTable ? smem + table_floats * sizeof(float) : smem;
  std::uint32_t* staged =
      reinterpret_cast<std::uint32_t*>(select_smem + select_smem_bytes(a.k, kThreads));
  // The query-only kinds: one table for every row of the item.
  const float* scan_table = table;
  if constexpr (!kPerList) {
    if constexpr (kSharedTable) {
      form_table<false>(query_table, nullptr, a.M, table);
    } else {
      scan_table = query_table;
    }
  }
  BlockSelect sel(select_smem, a.k, kThreads);
  sel.init();  // its barrier also completes the copy above

  if (!a.ivf) {
    const std::int64_t row0 = static_cast<std::int64_t>(slot) * a.rows_per_chunk;
    const std::int64_t n = min(static_cast<std::int64_t>(a.rows_per_chunk), a.n_rows - row0);
    scan_rows<kFiltered, false>(a, scan_table, row0, n, 0.0f, sel, nullptr);
  } else {
    const int p_end = min(a.n_probe, (slot + 1) * a.lists_per_item);
    bool formed = false;  // a per-list table has been read by an earlier list's scan
    for (int p = slot * a.lists_per_item; p < p_end; ++p) {
      const std::int64_t at = query * a.n_probe + p;
      const std::int64_t list = a.probes[at];  // every thread reads the same: uniform branches
      if (list < 0) continue;
      const std::int64_t n = a.list_sizes[list];
      if (n <= 0) continue;
      float base = 0.0f;
      if constexpr (kTable == PqTable::L2Precomputed || kTable == PqTable::L2RowTerm) {
        base = a.probe_dist[at];
      }
      if constexpr (kTable == PqTable::Inner) base = -a.probe_dist[at];
      if constexpr (kPerList) {
        if (formed) __syncthreads();  // the last list's scan has read the table
        if constexpr (kTable == PqTable::L2Residual) {
          build_residual_table(a, a.queries + query * a.dp, list, table);
        } else {
          form_table<true>(query_table,
                           a.precomputed + list * static_cast<std::int64_t>(table_floats), a.M,
                           table);
        }
        __syncthreads();  // the table is complete (shared or global) before any thread reads it
        formed = true;
      }
      scan_rows<kFiltered, kTable == PqTable::L2RowTerm>(a, scan_table, a.list_offsets[list], n,
                                                         base, sel, staged);
    }
  }
  sel.finish();
  store_partial(sel, a.k, a.out_keys + item * a.k, a.out_rows + item * a.k);
}

template <PqTable kTable, bool kFiltered, bool kSharedTable>
void scan_waves(const PqScanArgs& a, std::int64_t n_items, float* global_tables, std::int64_t slots,
                cudaStream_t stream) {
  constexpr auto kernel = &pq_scan_kernel<kTable, kFiltered, kSharedTable>;
  const std::size_t smem = pq_scan_smem_bytes(a, kTable) + (kSharedTable ? pq_table_bytes(a.M) : 0);
  set_smem(reinterpret_cast<const void*>(kernel), smem);
  // Grid x takes up to 2^31 - 1 blocks; per-list tables in global memory bound a wave to their
  // slots.
  constexpr bool kPerList = kTable == PqTable::L2Residual || kTable == PqTable::L2Precomputed;
  const std::int64_t wave = kSharedTable || !kPerList ? std::int64_t{1} << 30 : slots;
  for (std::int64_t item0 = 0; item0 < n_items; item0 += wave) {
    const std::int64_t blocks = std::min(wave, n_items - item0);
    kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(a, item0, global_tables);
    KNNX_CUDA_CHECK(cudaGetLastError());
  }
}

template <PqTable kTable>
void scan_table(const PqScanArgs& a, std::int64_t n_items, bool shared, float* global_tables,
                std::int64_t slots, cudaStream_t stream) {
  dispatch_filtered(a.allowed, [&](auto f) {
    if (shared) {
      scan_waves<kTable, decltype(f)::value, true>(a, n_items, global_tables, slots, stream);
    } else {
      scan_waves<kTable, decltype(f)::value, false>(a, n_items, global_tables, slots, stream);
    }
  });
}

__global__ void pq_precompute_kernel(const float* __restrict__ centroids, int n_lists, int dim,
                                     const float* __restrict__ codebook, int M,
                                     float* __restrict__ out) {
  const std::int64_t entries = static_cast<std::int64_t>(M) * kKsub;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= entries * n_lists) return;
  const std::int64_t l = i / entries;
  const int e = static_cast<int>(i - l * entries);
  const int ds = dim / M;
  const int m = e >> 8;
  const float* cb = codebook + static_cast<std::int64_t>(e) * ds;
  const float* c = centroids + l * dim + m * ds;
  float norm = 0.0f, dot = 0.0f;
  for (int t = 0; t < ds; ++t) norm += cb[t] * cb[t];
  for (int t = 0; t < ds; ++t) dot += c[t] * cb[t];
  out[i] = norm + 2.0f * dot;
}

// The term of one row of list `list`: its codes' precomputed-table entries (the arithmetic of
// pq_precompute_kernel) summed in sub-quantizer order.
__device__ float row_term(const PqRowTerms& t, const std::uint32_t* row, std::int64_t list) {
  const int ds = t.dim / t.M;
  const float* centroid = t.centroids + list * t.dim;
  float term = 0.0f;
  for (int m = 0; m < t.M; ++m) {
    const unsigned j = (row[m >> 2] >> (8 * (m & 3))) & 0xFFu;
    const float* cb = t.codebook + (static_cast<std::int64_t>(m) * kKsub + j) * ds;
    const float* c = centroid + m * ds;
    float norm = 0.0f, dot = 0.0f;
    for (int u = 0; u < ds; ++u) norm += cb[u] * cb[u];
    for (int u = 0; u < ds; ++u) dot += c[u] * cb[u];
    term += norm + 2.0f * dot;
  }
  return term;
}

__global__ void pq_row_terms_kernel(const PqRowTerms t, std::int64_t n,
                                    const std::int64_t* __restrict__ lists) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  std::uint32_t* row = t.rows + i * t.row_words;
  row[t.code_words] = __float_as_uint(row_term(t, row, lists[i]));
}

// One block per list, its threads striding over the list's rows.
__global__ void pq_list_row_terms_kernel(const PqRowTerms t, const std::int64_t* __restrict__ sizes,
                                         const std::int64_t* __restrict__ offsets) {
  const std::int64_t list = blockIdx.x;
  const std::int64_t n = sizes[list];
  for (std::int64_t r = threadIdx.x; r < n; r += blockDim.x) {
    std::uint32_t* row = t.rows + (offsets[list] + r) * t.row_words;
    row[t.code_words] = __float_as_uint(row_term(t, row, list));
  }
}

}  // namespace

void launch_pq_row_terms(const PqRowTerms& t, std::int64_t n, const std::int64_t* lists,
                         cudaStream_t stream, bool sync_check) {
  if (n == 0) return;
  pq_row_terms_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(t, n, lists);
  KNNX_CHECK_LAUNCH(stream, sync_check, "pq_row_terms_kernel");
}

void launch_pq_list_row_terms(const PqRowTerms& t, int n_lists, const std::int64_t* sizes,
                              const std::int64_t* offsets, cudaStream_t stream, bool sync_check) {
  if (n_lists == 0) return;
  pq_list_row_terms_kernel<<<static_cast<unsigned>(n_lists), 256, 0, stream>>>(t, sizes, offsets);
  KNNX_CHECK_LAUNCH(stream, sync_check, "pq_list_row_terms_kernel");
}

std::size_t pq_scan_smem_bytes(const PqScanArgs& args, PqTable table) {
  const std::size_t staged =
      table == PqTable::L2RowTerm ? std::size_t{4} * kThreads * args.row_words : 0;
  return select_smem_bytes(args.k, kThreads) + staged;
}

bool pq_table_in_shared(const PqScanArgs& args, PqTable table, int device) {
  const std::size_t need = pq_table_bytes(args.M) + pq_scan_smem_bytes(args, table);
  return need <= static_cast<std::size_t>(device_properties(device).sharedMemPerBlockOptin);
}

int pq_scan_blocks_per_sm(const PqScanArgs& args, PqTable table, int device) {
  const cudaDeviceProp& prop = device_properties(device);
  const int by_threads = std::max(1, prop.maxThreadsPerMultiProcessor / kThreads);
  // Each resident block also costs the runtime's reserved shared memory (1 KiB on sm_80+).
  const std::size_t smem = pq_scan_smem_bytes(args, table) + prop.reservedSharedMemPerBlock +
                           (pq_table_in_shared(args, table, device) ? pq_table_bytes(args.M) : 0);
  const int by_smem =
      static_cast<int>(prop.sharedMemPerMultiprocessor / std::max<std::size_t>(smem, 1));
  return std::max(1, std::min(by_threads, by_smem));
}

void launch_pq_query_tables(const PqScanArgs& args, PqTable table, int n_queries, float* out,
                            cudaStream_t stream, bool sync_check) {
  if (!pq_needs_query_table(table) || n_queries == 0) return;
  const std::int64_t total = static_cast<std::int64_t>(n_queries) * args.M * kKsub;
  const unsigned blocks = static_cast<unsigned>((total + 255) / 256);
  switch (table) {
    case PqTable::L2Precomputed:
      pq_query_table_kernel<PqTable::L2Precomputed>
          <<<blocks, 256, 0, stream>>>(args, n_queries, out);
      break;
    case PqTable::L2RowTerm:
      pq_query_table_kernel<PqTable::L2RowTerm><<<blocks, 256, 0, stream>>>(args, n_queries, out);
      break;
    case PqTable::L2Query:
      pq_query_table_kernel<PqTable::L2Query><<<blocks, 256, 0, stream>>>(args, n_queries, out);
      break;
    case PqTable::Inner:
      pq_query_table_kernel<PqTable::Inner><<<blocks, 256, 0, stream>>>(args, n_queries, out);
      break;
    case PqTable::L2Residual:
      break;
  }
  KNNX_CHECK_LAUNCH(stream, sync_check, "pq_query_table_kernel");
}

void launch_pq_scan(const PqScanArgs& args, PqTable table, std::int64_t n_items, int device,
                    float* global_tables, std::int64_t global_table_slots, cudaStream_t stream,
                    bool sync_check) {
  if (n_items == 0) return;
  const bool shared = pq_table_in_shared(args, table, device);
  switch (table) {
    case PqTable::L2Residual:
      scan_table<PqTable::L2Residual>(args, n_items, shared, global_tables, global_table_slots,
                                      stream);
      break;
    case PqTable::L2Precomputed:
      scan_table<PqTable::L2Precomputed>(args, n_items, shared, global_tables, global_table_slots,
                                         stream);
      break;
    case PqTable::L2RowTerm:
      scan_table<PqTable::L2RowTerm>(args, n_items, shared, global_tables, global_table_slots,
                                     stream);
      break;
    case PqTable::L2Query:
      scan_table<PqTable::L2Query>(args, n_items, shared, global_tables, global_table_slots,
                                   stream);
      break;
    case PqTable::Inner:
      scan_table<PqTable::Inner>(args, n_items, shared, global_tables, global_table_slots, stream);
      break;
  }
  KNNX_CHECK_LAUNCH(stream, sync_check, "pq_scan_kernel");
}

void launch_pq_precompute(const float* centroids, int n_lists, int dim, const float* codebook,
                          int M, float* out, cudaStream_t stream, bool sync_check) {
  const std::int64_t total = static_cast<std::int64_t>(n_lists) * M * kKsub;
  if (total == 0) return;
  pq_precompute_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
      centroids, n_lists, dim, codebook, M, out);
  KNNX_CHECK_LAUNCH(stream, sync_check, "pq_precompute_kernel");
}

}  // namespace knnx::cuda
