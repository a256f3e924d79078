// Product-quantizer scans: per item, the table built into shared (or global) memory, then the
// codes scanned through the fused block selection.
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

// Writes the item's table (M x 256 floats) from query row q and, for IVF items, list `list`.
template <PqTable kTable>
__device__ void build_table(const PqScanArgs& a, const float* __restrict__ q, std::int64_t list,
                            float* table) {
  const int entries = a.M * kKsub;
  const int ds = a.dsub;
  const float* centroid = nullptr;
  if constexpr (kTable == PqTable::L2Residual) {
    if (a.ivf) centroid = a.centroids + list * a.dim;
  }
  const float* pre = nullptr;
  if constexpr (kTable == PqTable::L2Precomputed) {
    pre = a.precomputed + list * static_cast<std::int64_t>(entries);
  }
  for (int e = threadIdx.x; e < entries; e += blockDim.x) {
    const int m = e >> 8;
    const float* cb = a.codebook + static_cast<std::int64_t>(e) * ds;
    const float* qs = q + m * ds;
    float s = 0.0f;
    if constexpr (kTable == PqTable::L2Residual) {
      const float* cs = centroid != nullptr ? centroid + m * ds : nullptr;
      for (int t = 0; t < ds; ++t) {
        const float r = cs != nullptr ? qs[t] - cs[t] : qs[t];
        const float d = r - __ldg(cb + t);
        s += d * d;
      }
    } else {
      for (int t = 0; t < ds; ++t) s += qs[t] * __ldg(cb + t);
      if constexpr (kTable == PqTable::L2Precomputed) {
        s = __ldg(pre + e) + s * -2.0f;
      } else {
        s = -s;
      }
    }
    table[e] = s;
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

// One block per item (item0 + blockIdx.x). kSharedTable: the table lives in shared memory
// before the selection's buffers; otherwise in global_tables slot blockIdx.x.
template <PqTable kTable, bool kFiltered, bool kSharedTable>
__global__ void __launch_bounds__(kThreads)
    pq_scan_kernel(const PqScanArgs a, std::int64_t item0, float* __restrict__ global_tables) {
  extern __shared__ __align__(16) unsigned char smem[];
  const std::int64_t item = item0 + blockIdx.x;
  const int per_query = a.ivf ? a.n_probe : a.chunks;
  const std::int64_t query = item / per_query;
  const int slot = static_cast<int>(item - query * per_query);
  std::int64_t list = -1, row0 = 0, n = 0;
  float base = 0.0f;
  if (a.ivf) {
    list = a.probes[item];
    if (list >= 0) {
      row0 = a.list_offsets[list];
      n = a.list_sizes[list];
      if constexpr (kTable == PqTable::L2Precomputed) base = a.probe_dist[item];
      if constexpr (kTable == PqTable::Inner) base = -a.probe_dist[item];
    }
  } else {
    row0 = static_cast<std::int64_t>(slot) * a.rows_per_chunk;
    n = min(static_cast<std::int64_t>(a.rows_per_chunk), a.n_rows - row0);
  }
  std::uint32_t* out_keys = a.out_keys + item * a.k;
  std::int32_t* out_rows = a.out_rows + item * a.k;
  if (n <= 0) {  // block-uniform: nothing to scan
    for (int i = threadIdx.x; i < a.k; i += blockDim.x) {
      out_keys[i] = kKeyMax;
      out_rows[i] = -1;
    }
    return;
  }
  const std::size_t table_floats = static_cast<std::size_t>(a.M) * kKsub;
  float* table = kSharedTable ? reinterpret_cast<float*>(smem)
                              : global_tables + static_cast<std::size_t>(blockIdx.x) * table_floats;
  unsigned char* select_smem = kSharedTable ? smem + table_floats * sizeof(float) : smem;
  build_table<kTable>(a, a.queries + query * a.dp, list, table);
  __syncthreads();  // the table is complete (shared or global) before any thread reads it

  BlockSelect sel(select_smem, a.k, kThreads);
  sel.init();
  for (std::int64_t r0 = 0; r0 < n; r0 += kThreads) {
    sel.begin_round(kThreads);
    const std::int64_t j = r0 + threadIdx.x;
    const std::int64_t row = row0 + j;
    bool valid = j < n;
    if constexpr (kFiltered) valid = valid && admitted(a.allowed, row);
    float s = base;
    if (valid) {
      const std::uint32_t* code = a.codes + row * a.code_words;
      if (a.code_words % 4 == 0) {  // rows of 16-byte multiples: 16-byte loads
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
  sel.finish();
  store_partial(sel, a.k, out_keys, out_rows);
}

template <PqTable kTable, bool kFiltered, bool kSharedTable>
void scan_waves(const PqScanArgs& a, std::int64_t n_items, float* global_tables, std::int64_t slots,
                cudaStream_t stream) {
  constexpr auto kernel = &pq_scan_kernel<kTable, kFiltered, kSharedTable>;
  const std::size_t smem =
      select_smem_bytes(a.k, kThreads) + (kSharedTable ? pq_table_bytes(a.M) : 0);
  set_smem(reinterpret_cast<const void*>(kernel), smem);
  // Grid x takes up to 2^31 - 1 blocks; global tables bound a wave to their slots.
  const std::int64_t wave = kSharedTable ? std::int64_t{1} << 30 : slots;
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

}  // namespace

bool pq_table_in_shared(int M, int k, int device) {
  const std::size_t need = pq_table_bytes(M) + select_smem_bytes(k, kThreads);
  return need <= static_cast<std::size_t>(device_properties(device).sharedMemPerBlockOptin);
}

void launch_pq_scan(const PqScanArgs& args, PqTable table, std::int64_t n_items, int device,
                    float* global_tables, std::int64_t global_table_slots, cudaStream_t stream,
                    bool sync_check) {
  if (n_items == 0) return;
  const bool shared = pq_table_in_shared(args.M, args.k, device);
  switch (table) {
    case PqTable::L2Residual:
      scan_table<PqTable::L2Residual>(args, n_items, shared, global_tables, global_table_slots,
                                      stream);
      break;
    case PqTable::L2Precomputed:
      scan_table<PqTable::L2Precomputed>(args, n_items, shared, global_tables, global_table_slots,
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
