// core/sq_codec.hpp — the component codecs of ScalarQuantizer (knnx/scalar_quantizer.hpp), one
// definition shared by its encode/decode and by the backends' distance scans.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace knnx::detail {

// Uniform codes of `levels` + 1 values (255 for 8 bits, 15 for 4 bits), as FAISS's: u in [0, 1]
// (clamped) maps to floor(levels * u); code c decodes to (c + 0.5) / levels.
inline std::uint8_t uniform_encode(float x, float vmin, float vdiff, int levels) {
  float u = vdiff != 0.0f ? (x - vmin) / vdiff : 0.0f;
  u = std::clamp(u, 0.0f, 1.0f);
  return static_cast<std::uint8_t>(static_cast<int>(static_cast<float>(levels) * u));
}
inline float uniform_decode(std::uint32_t code, float vmin, float vdiff, int levels) {
  return vmin + (static_cast<float>(code) + 0.5f) / static_cast<float>(levels) * vdiff;
}

inline constexpr float kHalfMax = 65504.0f;
// bfloat16's largest finite value, 0x7f7f.
inline constexpr float kBf16Max = 3.38953138925153547590470800371487867e38f;

// float -> IEEE half, rounded to nearest even; |x| is saturated to kHalfMax first.
inline std::uint16_t float_to_half(float x) {
  x = std::clamp(x, -kHalfMax, kHalfMax);
  std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  bits &= 0x7fffffffu;
  std::uint32_t out;
  if (bits < (113u << 23)) {
    // Below half's smallest normal: adding a magic float aligns the half subnormal's bits at the
    // bottom of the significand, and the float addition rounds to nearest even.
    const float magic = std::bit_cast<float>(((127u - 15u) + (23u - 10u) + 1u) << 23);
    out = std::bit_cast<std::uint32_t>(std::bit_cast<float>(bits) + magic) -
          std::bit_cast<std::uint32_t>(magic);
  } else {
    const std::uint32_t odd = (bits >> 13) & 1u;
    bits += (static_cast<std::uint32_t>(15 - 127) << 23) + 0xfffu + odd;
    out = bits >> 13;
  }
  return static_cast<std::uint16_t>(out | sign);
}

// IEEE half (finite) -> float, exactly; branch-free so that scans vectorise it.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t magnitude = static_cast<std::uint32_t>(h & 0x7fffu) << 13;
  // Exponent rebased from 15 to 127 by a multiply, which also normalises half subnormals.
  const float f = std::bit_cast<float>(magnitude) * 0x1p112f;
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(f) | sign);
}

// float -> bfloat16, rounded to nearest even; |x| is saturated to kBf16Max first.
inline std::uint16_t float_to_bf16(float x) {
  x = std::clamp(x, -kBf16Max, kBf16Max);
  std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}
inline float bf16_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

}  // namespace knnx::detail
