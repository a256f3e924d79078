// SIMD kernels of the flat scan: AVX-512, AVX2+FMA and portable versions, chosen once per process.
//
// Inner products: within one version, a dot product is always summed in the same order (lane
// partial sums, then a fixed pairwise tree over 8 of them; AVX-512 first folds 16 lanes onto 8),
// so a (query, row) pair gets the same bits whichever group of queries or rows it was part of.
#include "cpu/scan_kernels.hpp"

#include <array>
#include <atomic>
#include <string_view>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define KNNX_SCAN_X86 1
#endif

namespace knnx::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// Portable versions.

// The base norm of row j, for L2 scores.
template <Metric M>
float base_norm(const float* base_norms, int j) {
  if constexpr (detail::kIsL2<M>) {
    return base_norms[j];
  } else {
    return 0.0f;
  }
}

template <Metric M>
int collect_below_portable(const float* t, const float* base_norms, float query_norm, int n,
                           float threshold, std::uint32_t* hits) {
  int count = 0;
  for (int j = 0; j < n; ++j) {
    if (score_of<M>(t[j], base_norm<M>(base_norms, j), query_norm) < threshold) {
      hits[count++] = static_cast<std::uint32_t>(j);
    }
  }
  return count;
}

// The pairwise tree the SIMD versions use on their 8 partial sums.
float tree_sum8(const float* p) {
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

void products_portable(const float* queries, int nq, const float* rows, idx_t n_rows, int d,
                       float alpha, float* out, idx_t out_stride) {
  for (idx_t r = 0; r < n_rows; ++r) {
    const float* x = rows + r * d;
    for (int i = 0; i < nq; ++i) {
      const float* q = queries + static_cast<idx_t>(i) * d;
      float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int j = 0; j < d; ++j) part[j & 7] += q[j] * x[j];
      out[i * out_stride + r] = alpha * tree_sum8(part);
    }
  }
}

#ifdef KNNX_SCAN_X86

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA.

#define KNNX_AVX2 __attribute__((target("avx2,fma")))

// Lane i of the result is the sum of the 8 lanes of a[i], summed as tree_sum8 does.
KNNX_AVX2 inline __m256 hsum8(const __m256* a) {
  const __m256 h01 = _mm256_hadd_ps(a[0], a[1]);
  const __m256 h23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 h45 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 h67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 h0123 = _mm256_hadd_ps(h01, h23);
  const __m256 h4567 = _mm256_hadd_ps(h45, h67);
  const __m256 lo = _mm256_permute2f128_ps(h0123, h4567, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(h0123, h4567, 0x31);
  return _mm256_add_ps(lo, hi);
}

template <Metric M>
KNNX_AVX2 int collect_below_avx2(const float* t, const float* base_norms, float query_norm, int n,
                                 float threshold, std::uint32_t* hits) {
  int count = 0;
  int j = 0;
  const __m256 thr = _mm256_set1_ps(threshold);
  if constexpr (detail::kIsL2<M>) {
    const __m256 qn = _mm256_set1_ps(query_norm);
    const __m256 zero = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
      __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(t + j), qn), _mm256_loadu_ps(base_norms + j));
      v = _mm256_max_ps(zero, v);  // NaN stays NaN, as in score_of
      unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, thr, _CMP_LT_OQ)));
      while (m) {
        hits[count++] = static_cast<std::uint32_t>(j + __builtin_ctz(m));
        m &= m - 1;
      }
    }
  } else {
    for (; j + 8 <= n; j += 8) {
      unsigned m = static_cast<unsigned>(
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(t + j), thr, _CMP_LT_OQ)));
      while (m) {
        hits[count++] = static_cast<std::uint32_t>(j + __builtin_ctz(m));
        m &= m - 1;
      }
    }
  }
  for (; j < n; ++j) {  // the last n % 8 entries
    if (score_of<M>(t[j], base_norm<M>(base_norms, j), query_norm) < threshold) {
      hits[count++] = static_cast<std::uint32_t>(j);
    }
  }
  return count;
}

// NQ queries x NR rows per step, NQ * NR = 8 accumulators of 8 lanes.
template <int NQ, int NR>
KNNX_AVX2 void products_avx2(const float* queries, const float* rows, idx_t n_rows, int d,
                             float alpha, float* out, idx_t out_stride) {
  static_assert(NQ * NR == 8);
  const int full = d & ~7;
  const int rem = d & 7;
  alignas(32) static constexpr int kMaskSource[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                      0,  0,  0,  0,  0,  0,  0,  0};
  const __m256i tail = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskSource + 8 - rem));
  const __m256 va = _mm256_set1_ps(alpha);

  auto step = [&](const float* x, int nr, __m256* acc) KNNX_AVX2 {
    for (int a = 0; a < 8; ++a) acc[a] = _mm256_setzero_ps();
    int j = 0;
    for (; j < full; j += 8) {
      __m256 xv[NR];
      for (int rr = 0; rr < NR; ++rr) xv[rr] = rr < nr ? _mm256_loadu_ps(x + rr * d + j) : _mm256_setzero_ps();
      for (int i = 0; i < NQ; ++i) {
        const __m256 qv = _mm256_loadu_ps(queries + i * d + j);
        for (int rr = 0; rr < NR; ++rr) acc[i * NR + rr] = _mm256_fmadd_ps(qv, xv[rr], acc[i * NR + rr]);
      }
    }
    if (rem) {
      __m256 xv[NR];
      for (int rr = 0; rr < NR; ++rr) xv[rr] = rr < nr ? _mm256_maskload_ps(x + rr * d + j, tail) : _mm256_setzero_ps();
      for (int i = 0; i < NQ; ++i) {
        const __m256 qv = _mm256_maskload_ps(queries + i * d + j, tail);
        for (int rr = 0; rr < NR; ++rr) acc[i * NR + rr] = _mm256_fmadd_ps(qv, xv[rr], acc[i * NR + rr]);
      }
    }
  };

  __m256 acc[8];
  alignas(32) float sums[8];
  idx_t r = 0;
  for (; r + NR <= n_rows; r += NR) {
    step(rows + r * d, NR, acc);
    const __m256 s = _mm256_mul_ps(hsum8(acc), va);
    if constexpr (NQ == 1) {
      _mm256_storeu_ps(out + r, s);
    } else {
      _mm256_store_ps(sums, s);
      for (int i = 0; i < NQ; ++i) {
        for (int rr = 0; rr < NR; ++rr) out[i * out_stride + r + rr] = sums[i * NR + rr];
      }
    }
  }
  if (r < n_rows) {  // fewer than NR rows left: the same step with absent rows as zeros
    const int nr = static_cast<int>(n_rows - r);
    step(rows + r * d, nr, acc);
    _mm256_store_ps(sums, _mm256_mul_ps(hsum8(acc), va));
    for (int i = 0; i < NQ; ++i) {
      for (int rr = 0; rr < nr; ++rr) out[i * out_stride + r + rr] = sums[i * NR + rr];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 (F only).

// GCC 12's AVX-512 headers build results from deliberately uninitialised vectors and then warn
// about them once inlined (GCC bug 105593); the warning says nothing about this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define KNNX_AVX512 __attribute__((target("avx512f,avx2,fma")))

KNNX_AVX512 inline __m256 fold16(__m512 v) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  return _mm256_add_ps(_mm512_castps512_ps256(v), hi);
}

template <Metric M>
KNNX_AVX512 int collect_below_avx512(const float* t, const float* base_norms, float query_norm,
                                     int n, float threshold, std::uint32_t* hits) {
  int count = 0;
  const __m512 thr = _mm512_set1_ps(threshold);
  const __m512 qn = _mm512_set1_ps(query_norm);
  const __m512 zero = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 live = n - j >= 16 ? static_cast<__mmask16>(0xFFFF)
                                       : static_cast<__mmask16>((1u << (n - j)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(live, t + j);
    if constexpr (detail::kIsL2<M>) {
      v = _mm512_add_ps(_mm512_add_ps(v, qn), _mm512_maskz_loadu_ps(live, base_norms + j));
      v = _mm512_max_ps(zero, v);  // NaN stays NaN, as in score_of
    }
    unsigned m = _mm512_mask_cmp_ps_mask(live, v, thr, _CMP_LT_OQ);
    while (m) {
      hits[count++] = static_cast<std::uint32_t>(j + __builtin_ctz(m));
      m &= m - 1;
    }
  }
  return count;
}

template <int NQ, int NR>
KNNX_AVX512 void products_avx512(const float* queries, const float* rows, idx_t n_rows, int d,
                                 float alpha, float* out, idx_t out_stride) {
  static_assert(NQ * NR == 8);
  const int full = d & ~15;
  const __mmask16 tail = static_cast<__mmask16>((1u << (d & 15)) - 1);
  const __m256 va = _mm256_set1_ps(alpha);

  auto step = [&](const float* x, int nr, __m256* folded) KNNX_AVX512 {
    __m512 acc[8];
    for (int a = 0; a < 8; ++a) acc[a] = _mm512_setzero_ps();
    int j = 0;
    for (; j < full; j += 16) {
      __m512 xv[NR];
      for (int rr = 0; rr < NR; ++rr) xv[rr] = rr < nr ? _mm512_loadu_ps(x + rr * d + j) : _mm512_setzero_ps();
      for (int i = 0; i < NQ; ++i) {
        const __m512 qv = _mm512_loadu_ps(queries + i * d + j);
        for (int rr = 0; rr < NR; ++rr) acc[i * NR + rr] = _mm512_fmadd_ps(qv, xv[rr], acc[i * NR + rr]);
      }
    }
    if (tail) {
      __m512 xv[NR];
      for (int rr = 0; rr < NR; ++rr) xv[rr] = rr < nr ? _mm512_maskz_loadu_ps(tail, x + rr * d + j) : _mm512_setzero_ps();
      for (int i = 0; i < NQ; ++i) {
        const __m512 qv = _mm512_maskz_loadu_ps(tail, queries + i * d + j);
        for (int rr = 0; rr < NR; ++rr) acc[i * NR + rr] = _mm512_fmadd_ps(qv, xv[rr], acc[i * NR + rr]);
      }
    }
    for (int a = 0; a < 8; ++a) folded[a] = fold16(acc[a]);
  };

  __m256 folded[8];
  alignas(32) float sums[8];
  idx_t r = 0;
  for (; r + NR <= n_rows; r += NR) {
    step(rows + r * d, NR, folded);
    const __m256 s = _mm256_mul_ps(hsum8(folded), va);
    if constexpr (NQ == 1) {
      _mm256_storeu_ps(out + r, s);
    } else {
      _mm256_store_ps(sums, s);
      for (int i = 0; i < NQ; ++i) {
        for (int rr = 0; rr < NR; ++rr) out[i * out_stride + r + rr] = sums[i * NR + rr];
      }
    }
  }
  if (r < n_rows) {
    const int nr = static_cast<int>(n_rows - r);
    step(rows + r * d, nr, folded);
    _mm256_store_ps(sums, _mm256_mul_ps(hsum8(folded), va));
    for (int i = 0; i < NQ; ++i) {
      for (int rr = 0; rr < nr; ++rr) out[i * out_stride + r + rr] = sums[i * NR + rr];
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // KNNX_SCAN_X86

// ---------------------------------------------------------------------------------------------
// Dispatch.

using CollectFn = int (*)(const float*, const float*, float, int, float, std::uint32_t*);
using ProductsFn = void (*)(const float*, const float*, idx_t, int, float, float*, idx_t);

struct Kernels {
  const char* isa = "portable";
  CollectFn collect_l2 = collect_below_portable<Metric::L2>;
  CollectFn collect_ip = collect_below_portable<Metric::InnerProduct>;
  // For 1 and 2 queries; null in the portable set.
  std::array<ProductsFn, kSmallBatchMax> products{};
  // Most queries for which a flat search uses these kernels rather than sgemm (bench/NOTES.md,
  // "CPU Flat": sgemm is faster from 4 queries on with AVX-512, from 33 on with AVX2).
  int flat_direct_max_queries = 3;
};

bool cpu_has(const char* isa) {
#ifdef KNNX_SCAN_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::string_view(isa) == "avx2") return avx2;
  if (std::string_view(isa) == "avx512") return avx2 && __builtin_cpu_supports("avx512f");
#endif
  return std::string_view(isa) == "portable";
}

// The kernel set for an instruction set, or null when the CPU (or the build) lacks it.
const Kernels* kernel_set(std::string_view isa) {
  static const Kernels portable;
  if (isa == "portable") return &portable;
#ifdef KNNX_SCAN_X86
  if (isa == "avx512" && cpu_has("avx512")) {
    static const Kernels k{"avx512",
                           collect_below_avx512<Metric::L2>,
                           collect_below_avx512<Metric::InnerProduct>,
                           {products_avx512<1, 8>, products_avx512<2, 4>},
                           3};
    return &k;
  }
  if (isa == "avx2" && cpu_has("avx2")) {
    static const Kernels k{"avx2",
                           collect_below_avx2<Metric::L2>,
                           collect_below_avx2<Metric::InnerProduct>,
                           {products_avx2<1, 8>, products_avx2<2, 4>},
                           32};
    return &k;
  }
#endif
  return nullptr;
}

const Kernels* best_kernel_set() {
  for (const char* isa : {"avx512", "avx2"}) {
    if (const Kernels* k = kernel_set(isa)) return k;
  }
  return kernel_set("portable");
}

std::atomic<const Kernels*> g_active{nullptr};

const Kernels& kernels() {
  const Kernels* k = g_active.load(std::memory_order_acquire);
  if (!k) {
    k = best_kernel_set();
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

}  // namespace

template <Metric M>
int collect_below(const float* t, const float* base_norms, float query_norm, int n, float threshold,
                  std::uint32_t* hits) {
  const Kernels& k = kernels();
  return (detail::kIsL2<M> ? k.collect_l2 : k.collect_ip)(t, base_norms, query_norm, n, threshold,
                                                          hits);
}

template int collect_below<Metric::L2>(const float*, const float*, float, int, float,
                                       std::uint32_t*);
template int collect_below<Metric::InnerProduct>(const float*, const float*, float, int, float,
                                                 std::uint32_t*);

void small_batch_products(const float* queries, int nq, const float* rows, idx_t n_rows, int d,
                          float alpha, float* out, idx_t out_stride) {
  const Kernels& k = kernels();
  if (!k.products[0]) {
    products_portable(queries, nq, rows, n_rows, d, alpha, out, out_stride);
    return;
  }
  k.products[static_cast<std::size_t>(nq - 1)](queries, rows, n_rows, d, alpha, out, out_stride);
}

const char* scan_kernels_isa() { return kernels().isa; }

int flat_direct_max_queries() { return kernels().flat_direct_max_queries; }

bool select_scan_kernels(std::string_view isa) {
  const Kernels* k = isa == "best" ? best_kernel_set() : kernel_set(isa);
  if (!k) return false;
  g_active.store(k, std::memory_order_release);
  return true;
}

}  // namespace knnx::cpu
