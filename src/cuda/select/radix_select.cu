// Radix selection of any k (radix_select.hpp): one block per query finds the cut and gathers the
// kept (key, row) words, a segmented radix sort orders them, and a last kernel writes results.
// The block reads its query's candidates through a source, four at a time: explicit key and row
// arrays (IVF), or a row of a GEMM score tile whose keys are completed on the fly (flat), so
// the tile is never rewritten.
#include <algorithm>
#include <climits>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <string>

#include "cuda/common/admitted.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/select/radix_key.cuh"
#include "cuda/select/radix_select.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kBins = 2048;  // the widest digit: 11 bits
constexpr int kBinsPerThread = kBins / kThreads;
// A kept entry as one sortable word: key in the high half, row in the low half. All ones is
// never a kept entry (its key would be kKeyMax) and sorts last: it pads the lists.
constexpr std::uint64_t kEmptyPair = ~std::uint64_t{0};

// Query q's candidates as explicit keys and rows ([q * ld + j], j < n; null rows: row j).
// Entries with key kKeyMax or row -1 are empty.
struct KeyRowSource {
  const std::uint32_t* keys;
  const std::int32_t* rows;
  std::int64_t n;
  std::int64_t ld;

  __device__ std::int64_t groups() const { return (n + 3) / 4; }
  // Entries 4g .. 4g+3 of query q; an empty or absent entry gets row -1.
  __device__ void load(std::int64_t q, std::int64_t g, std::uint32_t (&key)[4],
                       std::int32_t (&row)[4]) const {
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const std::int64_t j = 4 * g + u;
      key[u] = kKeyMax;
      row[u] = -1;
      if (j < n) {
        key[u] = keys[q * ld + j];
        const std::int32_t r = rows ? rows[q * ld + j] : static_cast<std::int32_t>(j);
        row[u] = key[u] == kKeyMax ? -1 : r;
      }
    }
  }
};

// Query q's candidates as row q of a score tile ([q * ld + j], ld a multiple of 4, rows 16-byte
// aligned) holding -2 x.q (L2, completed with base_norms, readable up to round_up(n, 4)) or
// -x.q (IP); with kFiltered, rows whose bit in `allowed` is clear are empty.
template <Metric M, bool kFiltered>
struct ScoreTileSource {
  const float* tile;
  std::int64_t ld;
  std::int64_t n;
  const float* base_norms;
  const std::uint32_t* allowed;

  __device__ std::int64_t groups() const { return (n + 3) / 4; }
  __device__ void load(std::int64_t q, std::int64_t g, std::uint32_t (&key)[4],
                       std::int32_t (&row)[4]) const {
    const float4 v = reinterpret_cast<const float4*>(tile + q * ld)[g];
    float4 nn = make_float4(0.f, 0.f, 0.f, 0.f);
    if constexpr (detail::kIsL2<M>) nn = __ldg(reinterpret_cast<const float4*>(base_norms) + g);
    const float score[4] = {v.x + nn.x, v.y + nn.y, v.z + nn.z, v.w + nn.w};
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const std::int64_t j = 4 * g + u;
      bool ok = j < n;
      if constexpr (kFiltered) ok = ok && admitted(allowed, j);
      key[u] = ok ? float_to_key(score[u]) : kKeyMax;
      row[u] = ok ? static_cast<std::int32_t>(j) : -1;
    }
  }
};

using BlockScan = cub::BlockScan<int, kThreads>;

struct SelectShared {
  typename BlockScan::TempStorage scan;
  int hist[kBins];
  int bin;        // the bin holding the wanted entry (find_bin)
  int before;     // entries in the bins below it
  int bin_count;  // entries in it
  int taken;      // gather cursor
};

// The digits of a 32-bit key (high to low: 11, 11, 10 bits) and of a 31-bit row (11, 10, 10).
struct Digit {
  int shift;
  int width;
};
__device__ __forceinline__ Digit key_digit(int pass) {
  return pass == 0 ? Digit{21, 11} : pass == 1 ? Digit{10, 11} : Digit{0, 10};
}
__device__ __forceinline__ Digit row_digit(int pass) {
  return pass == 0 ? Digit{20, 11} : pass == 1 ? Digit{10, 10} : Digit{0, 10};
}

// From the histogram in s.hist (complete: the caller synchronised), the bin holding the
// want-th entry (1 <= want <= the histogram's total; else nothing is set) into s.bin, s.before
// and s.bin_count. Returns the histogram's total to every thread. Every thread calls it.
__device__ int find_bin(SelectShared& s, int want) {
  int local[kBinsPerThread];
  int sum = 0;
#pragma unroll
  for (int i = 0; i < kBinsPerThread; ++i) {
    local[i] = s.hist[threadIdx.x * kBinsPerThread + i];
    sum += local[i];
  }
  int before = 0, total = 0;
  BlockScan(s.scan).ExclusiveSum(sum, before, total);
#pragma unroll
  for (int i = 0; i < kBinsPerThread; ++i) {
    // Exactly one bin qualifies: empty bins never do.
    if (before < want && before + local[i] >= want) {
      s.bin = static_cast<int>(threadIdx.x) * kBinsPerThread + i;
      s.before = before;
      s.bin_count = local[i];
    }
    before += local[i];
  }
  __syncthreads();
  return total;
}

__device__ __forceinline__ void clear_hist(SelectShared& s) {
  for (int i = threadIdx.x; i < kBins; i += kThreads) s.hist[i] = 0;
  __syncthreads();
}

// A bin number no entry has: lanes with nothing to count.
constexpr std::uint32_t kNoBin = 0xFFFFFFFFu;

// Entries 4g .. 4g+3 of query q, or four empty entries past the last group (so that loops whose
// lanes must all take part can run past it).
template <typename Source>
__device__ __forceinline__ void load_or_empty(const Source& src, std::int64_t q, std::int64_t g,
                                              std::int64_t groups, std::uint32_t (&key)[4],
                                              std::int32_t (&row)[4]) {
  if (g < groups) {
    src.load(q, g, key, row);
    return;
  }
#pragma unroll
  for (int u = 0; u < 4; ++u) {
    key[u] = kKeyMax;
    row[u] = -1;
  }
}

// Block q: the cut of query q's candidates and the gather of exactly min(k, candidates)
// (key, row) words into out[q * kk ...), padded with kEmptyPair to kk.
template <typename Source>
__global__ void __launch_bounds__(kThreads)
    radix_select_kernel(Source src, int k, int kk, std::uint64_t* __restrict__ out) {
  __shared__ SelectShared s;
  const std::int64_t q = blockIdx.x;
  const std::int64_t groups = src.groups();
  std::uint64_t* qout = out + q * kk;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  std::uint32_t key[4];
  std::int32_t row[4];

  // 1. The k-th smallest key, a digit a pass; stop after the first when every candidate is
  //    kept.
  std::uint32_t prefix = 0, mask = 0;
  int want = k;
  bool keep_all = false;
  for (int pass = 0; pass < 3; ++pass) {
    const Digit d = key_digit(pass);
    const std::uint32_t digit_mask = (1u << d.width) - 1u;
    clear_hist(s);
    // Scores crowd into few high digits (sign, exponent): the lanes of a warp with the same bin
    // add once, by their leader, instead of contending for one shared counter.
    for (std::int64_t g0 = 0; g0 < groups; g0 += kThreads) {  // block-uniform trip count
      load_or_empty(src, q, g0 + threadIdx.x, groups, key, row);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const bool in = row[u] >= 0 && (key[u] & mask) == prefix;
        const std::uint32_t bin = in ? (key[u] >> d.shift) & digit_mask : kNoBin;
        const unsigned peers = __match_any_sync(0xFFFFFFFFu, bin);
        if (in && __ffs(peers) - 1 == lane) atomicAdd(&s.hist[bin], __popc(peers));
      }
    }
    __syncthreads();
    const int total = find_bin(s, want);
    if (pass == 0 && total <= k) {  // block-uniform
      keep_all = true;
      break;
    }
    want -= s.before;
    prefix |= static_cast<std::uint32_t>(s.bin) << d.shift;
    mask |= digit_mask << d.shift;
  }

  // 2. Entries with the cut key straddle the cut when fewer than all of them are wanted: then
  //    the cut row is the want-th smallest row among them (rows are distinct).
  std::uint32_t cut_row = 0x7FFFFFFFu;
  if (!keep_all && want < s.bin_count) {  // block-uniform: shared values after a barrier
    std::uint32_t rprefix = 0, rmask = 0;
    for (int pass = 0; pass < 3; ++pass) {
      const Digit d = row_digit(pass);
      const std::uint32_t digit_mask = (1u << d.width) - 1u;
      __syncthreads();  // every thread has read s.bin_count and s.before
      clear_hist(s);
      for (std::int64_t g = threadIdx.x; g < groups; g += kThreads) {
        src.load(q, g, key, row);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const std::uint32_t r = static_cast<std::uint32_t>(row[u]);
          if (row[u] >= 0 && key[u] == prefix && (r & rmask) == rprefix) {
            atomicAdd(&s.hist[(r >> d.shift) & digit_mask], 1);
          }
        }
      }
      __syncthreads();
      find_bin(s, want);
      want -= s.before;
      rprefix |= static_cast<std::uint32_t>(s.bin) << d.shift;
      rmask |= digit_mask << d.shift;
    }
    cut_row = rprefix;
  }

  // 3. Gather: keys below the cut key, and at it rows up to the cut row — exactly kk entries
  //    (or every candidate, when there are at most k). Warp-aggregated slots; the order is free,
  //    the sort decides it.
  __syncthreads();
  if (threadIdx.x == 0) s.taken = 0;
  __syncthreads();
  for (std::int64_t g0 = 0; g0 < groups; g0 += kThreads) {  // block-uniform trip count
    load_or_empty(src, q, g0 + threadIdx.x, groups, key, row);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const std::uint32_t r = static_cast<std::uint32_t>(row[u]);
      const bool take =
          row[u] >= 0 && (keep_all || key[u] < prefix || (key[u] == prefix && r <= cut_row));
      const unsigned ballot = __ballot_sync(0xFFFFFFFFu, take);
      if (ballot == 0u) continue;  // warp-uniform
      const int leader = __ffs(ballot) - 1;
      int slot = 0;
      if (lane == leader) slot = atomicAdd(&s.taken, __popc(ballot));
      slot = __shfl_sync(0xFFFFFFFFu, slot, leader);
      if (take) {
        qout[slot + __popc(ballot & ((1u << lane) - 1u))] =
            (static_cast<std::uint64_t>(key[u]) << 32) | r;
      }
    }
  }
  __syncthreads();
  for (int i = s.taken + static_cast<int>(threadIdx.x); i < kk; i += kThreads) qout[i] = kEmptyPair;
}

__global__ void segment_offsets_kernel(int nq, int kk, int* __restrict__ offsets) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= nq) offsets[i] = i * kk;
}

// Final results from the sorted words ([nq][kk], null when kk is 0), as store_final writes
// them.
__global__ void write_results_kernel(const std::uint64_t* __restrict__ sorted, int nq, int kk,
                                     int k, Metric metric, const float* __restrict__ qnorms,
                                     const std::int64_t* __restrict__ ids,
                                     float* __restrict__ distances,
                                     std::int64_t* __restrict__ labels) {
  const std::int64_t total = static_cast<std::int64_t>(nq) * k;
  const bool l2 = metric == Metric::L2;
  const float pad = l2 ? __int_as_float(0x7F800000) : __int_as_float(0xFF800000);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t q = i / k;
    const std::int64_t j = i - q * k;
    const std::uint64_t word = j < kk ? sorted[q * kk + j] : kEmptyPair;
    if (word == kEmptyPair) {
      distances[i] = pad;
      labels[i] = -1;
      continue;
    }
    const float v = key_to_float(static_cast<std::uint32_t>(word >> 32));
    const std::int32_t row = static_cast<std::int32_t>(word & 0xFFFFFFFFu);
    distances[i] = l2 ? (qnorms ? fmaxf(v + qnorms[q], 0.0f) : v) : -v;
    labels[i] = ids ? ids[row] : static_cast<std::int64_t>(row);
  }
}

std::int64_t kept_per_query(std::int64_t n_in, int k) {
  return std::min<std::int64_t>(k, std::max<std::int64_t>(n_in, 0));
}

// The steps after the source: select (launch_select(kk, words) queues the kernel), sort, write.
template <typename LaunchSelect>
void select_and_write(int nq, std::int64_t n_in, int k, Metric metric, const float* qnorms,
                      const std::int64_t* ids, float* distances, std::int64_t* labels,
                      cudaStream_t stream, bool sync_check, LaunchSelect launch_select) {
  const std::int64_t kk = kept_per_query(n_in, k);
  const std::int64_t items = static_cast<std::int64_t>(nq) * kk;
  if (n_in >= INT32_MAX || items >= INT32_MAX) {
    throw InvalidArgument("radix selection: " + std::to_string(nq) + " queries x " +
                          std::to_string(kk) + " kept entries of " + std::to_string(n_in) +
                          " candidates exceed 2^31");
  }
  const std::int64_t total = static_cast<std::int64_t>(nq) * k;
  const unsigned write_blocks =
      static_cast<unsigned>(std::clamp<std::int64_t>((total + 255) / 256, 1, 1 << 16));
  if (kk == 0) {
    write_results_kernel<<<write_blocks, 256, 0, stream>>>(nullptr, nq, 0, k, metric, qnorms, ids,
                                                           distances, labels);
    KNNX_CHECK_LAUNCH(stream, sync_check, "write_results_kernel");
    return;
  }
  DeviceBuffer<std::uint64_t> words(static_cast<std::size_t>(items), stream);
  DeviceBuffer<std::uint64_t> alternate(static_cast<std::size_t>(items), stream);
  DeviceBuffer<int> offsets(static_cast<std::size_t>(nq) + 1, stream);
  launch_select(static_cast<int>(kk), words.data());
  KNNX_CHECK_LAUNCH(stream, sync_check, "radix_select_kernel");
  segment_offsets_kernel<<<static_cast<unsigned>((nq + 1 + 255) / 256), 256, 0, stream>>>(
      nq, static_cast<int>(kk), offsets.data());
  KNNX_CHECK_LAUNCH(stream, sync_check, "segment_offsets_kernel");

  cub::DoubleBuffer<std::uint64_t> sorting(words.data(), alternate.data());
  std::size_t temp_bytes = 0;
  KNNX_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(
      nullptr, temp_bytes, sorting, static_cast<int>(items), nq, offsets.data(), offsets.data() + 1,
      0, 64, stream));
  DeviceBuffer<unsigned char> temp(std::max<std::size_t>(temp_bytes, 1), stream);
  KNNX_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(
      temp.data(), temp_bytes, sorting, static_cast<int>(items), nq, offsets.data(),
      offsets.data() + 1, 0, 64, stream));
  KNNX_CHECK_LAUNCH(stream, sync_check, "DeviceSegmentedRadixSort::SortKeys");

  write_results_kernel<<<write_blocks, 256, 0, stream>>>(
      sorting.Current(), nq, static_cast<int>(kk), k, metric, qnorms, ids, distances, labels);
  KNNX_CHECK_LAUNCH(stream, sync_check, "write_results_kernel");
}

}  // namespace

std::int64_t select_large_k_bytes(std::int64_t nq, std::int64_t n_in, int k) {
  // Two buffers of words for the sort, the segment offsets, and the sort's own small scratch.
  return nq * kept_per_query(n_in, k) * 16 + (nq + 1) * 4 + (std::int64_t{1} << 20);
}

void select_large_k(const std::uint32_t* keys, const std::int32_t* rows, int nq, std::int64_t n_in,
                    std::int64_t ld, int k, Metric metric, const float* qnorms,
                    const std::int64_t* ids, float* distances, std::int64_t* labels,
                    cudaStream_t stream, bool sync_check) {
  select_and_write(nq, n_in, k, metric, qnorms, ids, distances, labels, stream, sync_check,
                   [&](int kk, std::uint64_t* words) {
                     const KeyRowSource src{keys, rows, n_in, ld};
                     radix_select_kernel<<<static_cast<unsigned>(nq), kThreads, 0, stream>>>(
                         src, k, kk, words);
                   });
}

void select_large_k_from_scores(const float* tile, std::int64_t ld, int nq, std::int64_t n,
                                const float* base_norms, const std::uint32_t* allowed, int k,
                                Metric metric, const float* qnorms, const std::int64_t* ids,
                                float* distances, std::int64_t* labels, cudaStream_t stream,
                                bool sync_check) {
  select_and_write(nq, n, k, metric, qnorms, ids, distances, labels, stream, sync_check,
                   [&](int kk, std::uint64_t* words) {
                     dispatch_metric(metric, [&](auto m) {
                       dispatch_filtered(allowed, [&](auto f) {
                         using Source = ScoreTileSource<decltype(m)::value, decltype(f)::value>;
                         const Source src{tile, ld, n, base_norms, allowed};
                         radix_select_kernel<Source>
                             <<<static_cast<unsigned>(nq), kThreads, 0, stream>>>(src, k, kk,
                                                                                  words);
                       });
                     });
                   });
}

}  // namespace knnx::cuda
