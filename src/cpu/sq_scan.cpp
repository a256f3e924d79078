#include "cpu/sq_scan.hpp"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "core/sq_codec.hpp"

namespace knnx::cpu {
namespace {

using Type = ScalarQuantizer::Type;

// The component value of a code: the integer code for 8 and 4 bits (low nibbles, then high
// nibbles, matching the tables' order), the decoded float for fp16 / bf16.
template <Type T>
[[gnu::always_inline]] inline float value(const std::uint8_t* code, int j, int half_bytes) {
  if constexpr (T == Type::QT_8bit) {
    return static_cast<float>(code[j]);
  } else if constexpr (T == Type::QT_4bit) {
    return j < half_bytes ? static_cast<float>(code[j] & 15u)
                          : static_cast<float>(code[j - half_bytes] >> 4);
  } else {
    std::uint16_t h;
    std::memcpy(&h, code + 2 * j, 2);
    if constexpr (T == Type::QT_fp16) {
      return detail::half_to_float(h);
    } else {
      return detail::bf16_to_float(h);
    }
  }
}

// The scores of n codes. L2: sum_j (u_j - w_j v_j)^2; inner product: -(constant + sum_j u_j v_j).
// `len` components per code (2 x code bytes for 4-bit codes).
template <Type T, bool L2>
[[gnu::always_inline]] inline void scan(const float* u, const float* w, float constant,
                                        const std::uint8_t* codes, std::size_t code_size, int len,
                                        idx_t n, float* out) {
  const int half_bytes = static_cast<int>(code_size);
  for (idx_t i = 0; i < n; ++i) {
    const std::uint8_t* code = codes + static_cast<std::size_t>(i) * code_size;
    float acc = 0.0f;
    if constexpr (T == Type::QT_4bit) {
      // Low and high nibbles in one pass over the bytes.
#pragma omp simd reduction(+ : acc)
      for (int b = 0; b < half_bytes; ++b) {
        const float lo = static_cast<float>(code[b] & 15u);
        const float hi = static_cast<float>(code[b] >> 4);
        if constexpr (L2) {
          const float d0 = u[b] - w[b] * lo;
          const float d1 = u[b + half_bytes] - w[b + half_bytes] * hi;
          acc += d0 * d0 + d1 * d1;
        } else {
          acc += u[b] * lo + u[b + half_bytes] * hi;
        }
      }
    } else {
#pragma omp simd reduction(+ : acc)
      for (int j = 0; j < len; ++j) {
        const float v = value<T>(code, j, half_bytes);
        if constexpr (L2) {
          const float diff = u[j] - w[j] * v;
          acc += diff * diff;
        } else {
          acc += u[j] * v;
        }
      }
    }
    out[i] = L2 ? acc : -(constant + acc);
  }
}

using ScanFn = void (*)(const float*, const float*, float, const std::uint8_t*, std::size_t, int,
                        idx_t, float*);

template <Type T, bool L2>
void scan_portable(const float* u, const float* w, float c, const std::uint8_t* codes,
                   std::size_t cs, int len, idx_t n, float* out) {
  scan<T, L2>(u, w, c, codes, cs, len, n, out);
}

#if defined(__x86_64__) || defined(__i386__)
#define KNNX_SQ_AVX2 __attribute__((target("avx2,fma,f16c")))

KNNX_SQ_AVX2 inline float hsum(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}

// Components j .. j + 7 of a code as floats (the integer code for 8 bits, the value for fp16 /
// bf16); 4-bit codes have their own loop.
template <Type T>
KNNX_SQ_AVX2 inline __m256 load8(const std::uint8_t* code, int j) {
  if constexpr (T == Type::QT_8bit) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(code + j));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + 2 * j));
    if constexpr (T == Type::QT_fp16) {
      return _mm256_cvtph_ps(h);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
}

// One step of the accumulation: L2 acc += (u - w v)^2, inner product acc += u v.
template <bool L2>
KNNX_SQ_AVX2 inline __m256 step(__m256 acc, const float* u, const float* w, int j, __m256 v) {
  if constexpr (L2) {
    const __m256 diff = _mm256_fnmadd_ps(_mm256_loadu_ps(w + j), v, _mm256_loadu_ps(u + j));
    return _mm256_fmadd_ps(diff, diff, acc);
  } else {
    return _mm256_fmadd_ps(_mm256_loadu_ps(u + j), v, acc);
  }
}

// scan() with explicit 8-wide steps and two accumulators; components past the last full step
// go through the portable loop's arithmetic.
template <Type T, bool L2>
KNNX_SQ_AVX2 void scan_avx2(const float* u, const float* w, float constant,
                            const std::uint8_t* codes, std::size_t code_size, int len, idx_t n,
                            float* out) {
  const int half_bytes = static_cast<int>(code_size);
  const __m128i low4 = _mm_set1_epi8(0x0f);
  for (idx_t i = 0; i < n; ++i) {
    const std::uint8_t* code = codes + static_cast<std::size_t>(i) * code_size;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float tail = 0.0f;
    if constexpr (T == Type::QT_4bit) {
      int b = 0;
      for (; b + 8 <= half_bytes; b += 8) {
        const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(code + b));
        const __m128i lo = _mm_and_si128(bytes, low4);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
        acc0 = step<L2>(acc0, u, w, b, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)));
        acc1 = step<L2>(acc1, u, w, b + half_bytes, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)));
      }
      for (; b < half_bytes; ++b) {
        const float lo = static_cast<float>(code[b] & 15u);
        const float hi = static_cast<float>(code[b] >> 4);
        if constexpr (L2) {
          const float d0 = u[b] - w[b] * lo;
          const float d1 = u[b + half_bytes] - w[b + half_bytes] * hi;
          tail += d0 * d0 + d1 * d1;
        } else {
          tail += u[b] * lo + u[b + half_bytes] * hi;
        }
      }
    } else {
      int j = 0;
      for (; j + 16 <= len; j += 16) {
        acc0 = step<L2>(acc0, u, w, j, load8<T>(code, j));
        acc1 = step<L2>(acc1, u, w, j + 8, load8<T>(code, j + 8));
      }
      if (j + 8 <= len) {
        acc0 = step<L2>(acc0, u, w, j, load8<T>(code, j));
        j += 8;
      }
      for (; j < len; ++j) {
        const float v = value<T>(code, j, half_bytes);
        if constexpr (L2) {
          const float diff = u[j] - w[j] * v;
          tail += diff * diff;
        } else {
          tail += u[j] * v;
        }
      }
    }
    const float acc = hsum(_mm256_add_ps(acc0, acc1)) + tail;
    out[i] = L2 ? acc : -(constant + acc);
  }
}

// F16C is read from CPUID leaf 1 (ECX bit 29): Clang's __builtin_cpu_supports has no "f16c".
bool have_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

bool have_avx2() {
  static const bool yes =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && have_f16c();
  return yes;
}
#endif

template <Type T, bool L2>
ScanFn pick() {
#if defined(__x86_64__) || defined(__i386__)
  if (have_avx2()) return &scan_avx2<T, L2>;
#endif
  return &scan_portable<T, L2>;
}

template <bool L2>
ScanFn pick_type(Type type) {
  switch (type) {
    case Type::QT_8bit:
      return pick<Type::QT_8bit, L2>();
    case Type::QT_4bit:
      return pick<Type::QT_4bit, L2>();
    case Type::QT_fp16:
      return pick<Type::QT_fp16, L2>();
    case Type::QT_bf16:
      return pick<Type::QT_bf16, L2>();
  }
  return nullptr;
}

}  // namespace

SqScanner::SqScanner(const ScalarQuantizer& sq, Metric metric)
    : sq_(sq), l2_(metric == Metric::L2), dim_(sq.dim()) {
  const std::size_t len =
      sq.type() == Type::QT_4bit ? 2 * sq.code_size() : static_cast<std::size_t>(dim_);
  u_.assign(len, 0.0f);
  w_.assign(len, 0.0f);
}

void SqScanner::set_query(const float* q, float offset) {
  const Type type = sq_.type();
  const bool uniform = type == Type::QT_8bit || type == Type::QT_4bit;
  const int levels = type == Type::QT_8bit ? 255 : 15;
  const int half_bytes = static_cast<int>(sq_.code_size());
  double constant = l2_ ? 0.0 : offset;
  for (int j = 0; j < dim_; ++j) {
    // Where component j sits in the tables: 4-bit codes keep even components first.
    const int slot = type == Type::QT_4bit ? (j % 2 == 0 ? j / 2 : half_bytes + j / 2) : j;
    float a = 0.0f, b = 1.0f;
    if (uniform) {
      const float vmin = sq_.vmin()[static_cast<std::size_t>(j)];
      const float vdiff = sq_.vdiff()[static_cast<std::size_t>(j)];
      b = vdiff / static_cast<float>(levels);
      a = vmin + 0.5f * b;
    }
    if (l2_) {
      u_[static_cast<std::size_t>(slot)] = q[j] - a;
      w_[static_cast<std::size_t>(slot)] = b;
    } else {
      u_[static_cast<std::size_t>(slot)] = q[j] * b;
      constant += static_cast<double>(q[j]) * a;
    }
  }
  constant_ = static_cast<float>(constant);
}

void SqScanner::scores(const std::uint8_t* codes, idx_t n, float* out) const {
  static const ScanFn l2_fns[] = {pick_type<true>(Type::QT_8bit), pick_type<true>(Type::QT_4bit),
                                  pick_type<true>(Type::QT_fp16), pick_type<true>(Type::QT_bf16)};
  static const ScanFn ip_fns[] = {pick_type<false>(Type::QT_8bit), pick_type<false>(Type::QT_4bit),
                                  pick_type<false>(Type::QT_fp16), pick_type<false>(Type::QT_bf16)};
  const std::size_t t = static_cast<std::size_t>(sq_.type());
  const ScanFn fn = l2_ ? l2_fns[t] : ip_fns[t];
  fn(u_.data(), w_.data(), constant_, codes, sq_.code_size(), static_cast<int>(u_.size()), n, out);
}

}  // namespace knnx::cpu
