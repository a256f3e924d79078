// Scalar-quantizer scans: one block per item, one thread per code row, components decoded on
// the fly and scored into the fused block selection or the range passes.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/common/admitted.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/common/range_emit.cuh"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/block_select.cuh"
#include "cuda/select/block_select_store.cuh"
#include "cuda/sq/sq_kernels.hpp"

namespace knnx::cuda {
namespace {

using Type = ScalarQuantizer::Type;

constexpr int kThreads = kSelectThreads;
// Blocks per launch: grid x takes up to 2^31 - 1.
constexpr std::int64_t kWave = std::int64_t{1} << 30;

// Component j of a code: the integer code for 8 and 4 bits (component 2i in the low nibble of
// byte i), the decoded value for fp16 / bf16 (exact conversions, as the CPU's).
template <Type T>
__device__ __forceinline__ float component(const std::uint8_t* code, int j) {
  if constexpr (T == Type::QT_8bit) {
    return static_cast<float>(code[j]);
  } else if constexpr (T == Type::QT_4bit) {
    const std::uint32_t byte = code[j >> 1];
    return static_cast<float>((j & 1) != 0 ? byte >> 4 : byte & 15u);
  } else {
    const unsigned short h = reinterpret_cast<const unsigned short*>(code)[j];
    if constexpr (T == Type::QT_fp16) {
      return __half2float(__ushort_as_half(h));
    } else {
      return __bfloat162float(__ushort_as_bfloat16(h));
    }
  }
}

// Where an item's rows are and what its scores need.
struct Item {
  std::int64_t query;
  std::int64_t row0 = 0;  // first arena row
  std::int64_t n = 0;     // rows (0: nothing to scan)
  const float* q;
  const float* centroid = nullptr;  // residual codes: the list's centroid
};

__device__ Item item_of(const SqScanArgs& a, std::int64_t item) {
  const int per_query = a.n_probe * a.chunks;
  Item it;
  it.query = item / per_query;
  const int slot = static_cast<int>(item - it.query * per_query);
  const int probe = slot / a.chunks;
  const int chunk = slot - probe * a.chunks;
  it.q = a.queries + it.query * a.dp;
  const std::int64_t at = it.query * a.n_probe + probe;
  const std::int64_t list = a.probes != nullptr ? a.probes[at] : 0;
  if (list < 0) return it;
  const std::int64_t begin = static_cast<std::int64_t>(chunk) * a.rows_per_chunk;
  const std::int64_t size = a.list_sizes[list];
  if (begin >= size) return it;
  it.row0 = a.list_offsets[list] + begin;
  it.n = min(a.rows_per_chunk, size - begin);
  if (a.centroids != nullptr) it.centroid = a.centroids + list * a.dim;
  return it;
}

// The score (minimised) of arena row `row` for the item.
template <Type T, Metric M>
__device__ float score_row(const SqScanArgs& a, const Item& it, std::int64_t row) {
  const std::uint8_t* code = reinterpret_cast<const std::uint8_t*>(a.codes + row * a.code_words);
  float acc = 0.0f;
  float constant = 0.0f;  // inner product: sum_j q_j a_j
  float offset = 0.0f;    // inner product with residual codes: <q, centroid>
  for (int j = 0; j < a.dim; ++j) {
    const float v = component<T>(code, j);
    const float qj = __ldg(it.q + j);
    const float aj = __ldg(a.a + j);
    const float bj = __ldg(a.b + j);
    if constexpr (kIsL2<M>) {
      const float r = it.centroid != nullptr ? qj - __ldg(it.centroid + j) : qj;
      const float diff = (r - aj) - bj * v;
      acc += diff * diff;
    } else {
      acc += (qj * bj) * v;
      constant += qj * aj;
      if (it.centroid != nullptr) offset += qj * __ldg(it.centroid + j);
    }
  }
  if constexpr (kIsL2<M>) {
    return acc;
  } else {
    return -((offset + constant) + acc);
  }
}

template <Type T, Metric M, bool kFiltered>
__global__ void __launch_bounds__(kThreads)
    sq_scan_kernel(const SqScanArgs a, std::int64_t item0, int k, std::uint32_t* out_keys_all,
                   std::int32_t* out_rows_all) {
  extern __shared__ __align__(16) unsigned char smem[];
  const std::int64_t item = item0 + blockIdx.x;
  const Item it = item_of(a, item);
  std::uint32_t* out_keys = out_keys_all + item * k;
  std::int32_t* out_rows = out_rows_all + item * k;
  if (it.n <= 0) {  // block-uniform: nothing to scan
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
      out_keys[i] = kKeyMax;
      out_rows[i] = -1;
    }
    return;
  }
  BlockSelect sel(smem, k, kThreads);
  sel.init();
  for (std::int64_t r0 = 0; r0 < it.n; r0 += kThreads) {
    sel.begin_round(kThreads);
    const std::int64_t j = r0 + threadIdx.x;
    const std::int64_t row = it.row0 + j;
    bool valid = j < it.n;
    if constexpr (kFiltered) valid = valid && admitted(a.allowed, row);
    const float s = valid ? score_row<T, M>(a, it, row) : 0.0f;
    sel.offer(valid, float_to_key(s), static_cast<std::int32_t>(row));
  }
  sel.finish();
  store_partial(sel, k, out_keys, out_rows);
}

template <Type T, Metric M, bool kFill>
__global__ void __launch_bounds__(kThreads)
    sq_range_kernel(const SqScanArgs a, std::int64_t item0, float radius, int* counters,
                    RangeOutput out) {
  const Item it = item_of(a, item0 + blockIdx.x);
  // Every thread runs the same rounds, so each warp reaches range_emit together.
  for (std::int64_t r0 = 0; r0 < it.n; r0 += kThreads) {
    const std::int64_t j = r0 + threadIdx.x;
    const std::int64_t row = it.row0 + j;
    bool valid = j < it.n;
    if (valid && a.allowed != nullptr) valid = admitted(a.allowed, row);
    const float s = valid ? score_row<T, M>(a, it, row) : 0.0f;
    const int q = static_cast<int>(it.query);
    range_emit<M, kFill>(valid, s, radius, row, q, counters + q, out);
  }
}

// f(type tag) for the run-time type.
template <typename F>
void dispatch_type(Type type, F&& f) {
  switch (type) {
    case Type::QT_8bit:
      f(std::integral_constant<Type, Type::QT_8bit>{});
      break;
    case Type::QT_4bit:
      f(std::integral_constant<Type, Type::QT_4bit>{});
      break;
    case Type::QT_fp16:
      f(std::integral_constant<Type, Type::QT_fp16>{});
      break;
    case Type::QT_bf16:
      f(std::integral_constant<Type, Type::QT_bf16>{});
      break;
  }
}

}  // namespace

void launch_sq_scan(const SqScanArgs& args, std::int64_t n_items, int k, std::uint32_t* out_keys,
                    std::int32_t* out_rows, cudaStream_t stream, bool sync_check) {
  if (n_items == 0) return;
  const std::size_t smem = select_smem_bytes(k, kThreads);
  dispatch_type(args.type, [&](auto t) {
    dispatch_metric(args.metric, [&](auto m) {
      dispatch_filtered(args.allowed, [&](auto f) {
        constexpr auto kernel =
            &sq_scan_kernel<decltype(t)::value, decltype(m)::value, decltype(f)::value>;
        set_smem(reinterpret_cast<const void*>(kernel), smem);
        for (std::int64_t item0 = 0; item0 < n_items; item0 += kWave) {
          const std::int64_t blocks = std::min(kWave, n_items - item0);
          kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(args, item0, k,
                                                                            out_keys, out_rows);
          KNNX_CUDA_CHECK(cudaGetLastError());
        }
      });
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "sq_scan_kernel");
}

void launch_sq_range(const SqScanArgs& args, std::int64_t n_items, float radius, int* counters,
                     const RangeOutput* fill, cudaStream_t stream, bool sync_check) {
  if (n_items == 0) return;
  const RangeOutput out = fill ? *fill : RangeOutput{};
  dispatch_type(args.type, [&](auto t) {
    dispatch_metric(args.metric, [&](auto m) {
      for (std::int64_t item0 = 0; item0 < n_items; item0 += kWave) {
        const unsigned blocks = static_cast<unsigned>(std::min(kWave, n_items - item0));
        if (fill) {
          sq_range_kernel<decltype(t)::value, decltype(m)::value, true>
              <<<blocks, kThreads, 0, stream>>>(args, item0, radius, counters, out);
        } else {
          sq_range_kernel<decltype(t)::value, decltype(m)::value, false>
              <<<blocks, kThreads, 0, stream>>>(args, item0, radius, counters, out);
        }
        KNNX_CUDA_CHECK(cudaGetLastError());
      }
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "sq_range_kernel");
}

}  // namespace knnx::cuda
