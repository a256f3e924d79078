#include "cpu/pq_tables.hpp"

#include "cpu/cpu_features.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace knnx::cpu {
namespace {

// Centroids whose entries one step keeps in registers (ksub is 16 or 256).
constexpr int kBlock = 16;

template <bool L2>
[[gnu::always_inline]] inline void tables(const float* transposed, int M, int ksub, int dsub,
                                          const float* query, float* out) {
  for (int m = 0; m < M; ++m) {
    const float* ct = transposed + static_cast<std::size_t>(m) * dsub * ksub;
    const float* xs = query + static_cast<std::size_t>(m) * dsub;
    float* t = out + static_cast<std::size_t>(m) * ksub;
    for (int j0 = 0; j0 < ksub; j0 += kBlock) {
      float acc[kBlock] = {};
      for (int e = 0; e < dsub; ++e) {
        const float x = xs[e];
        const float* c = ct + static_cast<std::size_t>(e) * ksub + j0;
        for (int j = 0; j < kBlock; ++j) {
          if constexpr (L2) {
            const float diff = x - c[j];
            acc[j] += diff * diff;
          } else {
            acc[j] += x * c[j];
          }
        }
      }
      for (int j = 0; j < kBlock; ++j) t[j0 + j] = acc[j];
    }
  }
}

// The first j with the smallest t[j]: a running minimum in 16 lanes, then the first entry equal
// to the smallest lane.
int nearest(const float* t, int ksub) {
  float lane[kBlock];
  for (int l = 0; l < kBlock; ++l) lane[l] = t[l];
  for (int j = kBlock; j < ksub; j += kBlock) {
    for (int l = 0; l < kBlock; ++l) lane[l] = t[j + l] < lane[l] ? t[j + l] : lane[l];
  }
  float best = lane[0];
  for (int l = 1; l < kBlock; ++l) best = lane[l] < best ? lane[l] : best;
  for (int j = 0; j < ksub; ++j) {
    if (t[j] == best) return j;
  }
  return 0;  // not reached: tables of finite rows hold no NaN, and best is one of them
}

[[gnu::always_inline]] inline void add_scaled(const float* a, float f, const float* b,
                                              std::size_t n, float* out) {
  for (std::size_t e = 0; e < n; ++e) {
    const float scaled = f * b[e];
    out[e] = a[e] + scaled;
  }
}

#if defined(__x86_64__) || defined(__i386__)
// No "fma": a fused multiply-add would round differently from the portable loop.
#define KNNX_PQ_TABLES_AVX2 __attribute__((target("avx2")))

// The loops of tables() written with intrinsics: left to the compiler, that loop nest came out
// as scalar loads shuffled into vectors (about 2 cycles an entry instead of a quarter).
template <bool L2>
KNNX_PQ_TABLES_AVX2 void tables_avx2(const float* transposed, int M, int ksub, int dsub,
                                     const float* query, float* out) {
  for (int m = 0; m < M; ++m) {
    const float* ct = transposed + static_cast<std::size_t>(m) * dsub * ksub;
    const float* xs = query + static_cast<std::size_t>(m) * dsub;
    float* t = out + static_cast<std::size_t>(m) * ksub;
    for (int j0 = 0; j0 < ksub; j0 += kBlock) {
      __m256 acc0 = _mm256_setzero_ps();
      __m256 acc1 = _mm256_setzero_ps();
      for (int e = 0; e < dsub; ++e) {
        const __m256 x = _mm256_set1_ps(xs[e]);
        const float* c = ct + static_cast<std::size_t>(e) * ksub + j0;
        const __m256 c0 = _mm256_loadu_ps(c);
        const __m256 c1 = _mm256_loadu_ps(c + 8);
        if constexpr (L2) {
          const __m256 d0 = _mm256_sub_ps(x, c0);
          const __m256 d1 = _mm256_sub_ps(x, c1);
          acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(d0, d0));
          acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(d1, d1));
        } else {
          acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(x, c0));
          acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(x, c1));
        }
      }
      _mm256_storeu_ps(t + j0, acc0);
      _mm256_storeu_ps(t + j0 + 8, acc1);
    }
  }
}

KNNX_PQ_TABLES_AVX2 int nearest_avx2(const float* t, int ksub) {
  __m256 lo = _mm256_loadu_ps(t);
  __m256 hi = _mm256_loadu_ps(t + 8);
  for (int j = kBlock; j < ksub; j += kBlock) {
    lo = _mm256_min_ps(_mm256_loadu_ps(t + j), lo);  // t < lane ? t : lane, as nearest()
    hi = _mm256_min_ps(_mm256_loadu_ps(t + j + 8), hi);
  }
  alignas(32) float lane[kBlock];
  _mm256_store_ps(lane, lo);
  _mm256_store_ps(lane + 8, hi);
  float best = lane[0];
  for (int l = 1; l < kBlock; ++l) best = lane[l] < best ? lane[l] : best;
  const __m256 b = _mm256_set1_ps(best);
  for (int j = 0; j < ksub; j += 8) {
    const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(t + j), b, _CMP_EQ_OQ));
    if (mask != 0) return j + __builtin_ctz(static_cast<unsigned>(mask));
  }
  return 0;  // not reached for finite entries: best is one of them
}

KNNX_PQ_TABLES_AVX2 void add_scaled_avx2(const float* a, float f, const float* b, std::size_t n,
                                         float* out) {
  add_scaled(a, f, b, n, out);
}

#endif

}  // namespace

std::vector<float> pq_transpose_codebooks(const std::vector<float>& centroids, int M, int ksub,
                                          int dsub) {
  std::vector<float> out(centroids.size());
  for (int m = 0; m < M; ++m) {
    const std::size_t base = static_cast<std::size_t>(m) * ksub * dsub;
    for (int j = 0; j < ksub; ++j) {
      for (int e = 0; e < dsub; ++e) {
        out[base + static_cast<std::size_t>(e) * ksub + j] =
            centroids[base + static_cast<std::size_t>(j) * dsub + e];
      }
    }
  }
  return out;
}

void pq_query_tables_portable(const float* transposed, int M, int ksub, int dsub,
                              const float* query, bool l2, float* out) {
  if (l2) {
    tables<true>(transposed, M, ksub, dsub, query, out);
  } else {
    tables<false>(transposed, M, ksub, dsub, query, out);
  }
}

void pq_query_tables(const float* transposed, int M, int ksub, int dsub, const float* query,
                     bool l2, float* out) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2()) {
    if (l2) {
      tables_avx2<true>(transposed, M, ksub, dsub, query, out);
    } else {
      tables_avx2<false>(transposed, M, ksub, dsub, query, out);
    }
    return;
  }
#endif
  pq_query_tables_portable(transposed, M, ksub, dsub, query, l2, out);
}

void pq_add_scaled_portable(const float* a, float f, const float* b, std::size_t n, float* out) {
  add_scaled(a, f, b, n, out);
}

void pq_add_scaled(const float* a, float f, const float* b, std::size_t n, float* out) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2()) return add_scaled_avx2(a, f, b, n, out);
#endif
  add_scaled(a, f, b, n, out);
}

void pq_nearest_centroids_portable(const float* tables, int M, int ksub, int* labels) {
  for (int m = 0; m < M; ++m) labels[m] = nearest(tables + static_cast<std::size_t>(m) * ksub, ksub);
}

void pq_nearest_centroids(const float* tables, int M, int ksub, int* labels) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2()) {
    for (int m = 0; m < M; ++m) {
      labels[m] = nearest_avx2(tables + static_cast<std::size_t>(m) * ksub, ksub);
    }
    return;
  }
#endif
  pq_nearest_centroids_portable(tables, M, ksub, labels);
}

const char* pq_query_tables_isa() {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2()) return "avx2";
#endif
  return "portable";
}

}  // namespace knnx::cpu
