#include "cpu/pq_tables.hpp"

#include "cpu/cpu_features.hpp"

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

template <bool L2>
KNNX_PQ_TABLES_AVX2 void tables_avx2(const float* transposed, int M, int ksub, int dsub,
                                     const float* query, float* out) {
  tables<L2>(transposed, M, ksub, dsub, query, out);
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

const char* pq_query_tables_isa() {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2()) return "avx2";
#endif
  return "portable";
}

}  // namespace knnx::cpu
