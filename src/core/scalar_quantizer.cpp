// ScalarQuantizer: training of the per-component ranges and the host encode/decode of every type.
#include "knnx/scalar_quantizer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/check.hpp"
#include "core/sq_codec.hpp"

namespace knnx {

using detail::require;

namespace {

bool trained_type(ScalarQuantizer::Type type) {
  return type == ScalarQuantizer::Type::QT_8bit || type == ScalarQuantizer::Type::QT_4bit;
}

int levels_of(ScalarQuantizer::Type type) {
  return type == ScalarQuantizer::Type::QT_8bit ? 255 : 15;
}

std::size_t code_size_of(int dim, ScalarQuantizer::Type type) {
  const std::size_t d = static_cast<std::size_t>(dim);
  switch (type) {
    case ScalarQuantizer::Type::QT_8bit:
      return d;
    case ScalarQuantizer::Type::QT_4bit:
      return (d + 1) / 2;
    case ScalarQuantizer::Type::QT_fp16:
    case ScalarQuantizer::Type::QT_bf16:
      return 2 * d;
  }
  throw InvalidArgument(
      fmt::format("unsupported scalar quantizer type {}; supported are "
                  "QT_8bit (0), QT_4bit (1), QT_fp16 (2) and QT_bf16 (3)",
                  static_cast<std::uint32_t>(type)));
}

}  // namespace

ScalarQuantizer::ScalarQuantizer(int dim, Type type)
    : dim_(dim), type_(type), code_size_(0), trained_(!trained_type(type)) {
  detail::check_dim(dim);
  code_size_ = code_size_of(dim, type);
}

std::string_view ScalarQuantizer::type_name(Type type) {
  switch (type) {
    case Type::QT_8bit:
      return "SQ8";
    case Type::QT_4bit:
      return "SQ4";
    case Type::QT_fp16:
      return "SQfp16";
    case Type::QT_bf16:
      return "SQbf16";
  }
  return "SQ?";
}

void ScalarQuantizer::require_trained(const char* what) const {
  require(trained_, "the scalar quantizer ({}) must be trained before {}", type_name(type_), what);
}

void ScalarQuantizer::train(idx_t n, const float* x) {
  detail::check_count(n);
  detail::check_not_null(x, "x");
  detail::checked_elements(n, dim_, "x");
  detail::check_finite_host(n, dim_, x, "x");
  if (!trained_type(type_)) return;
  const std::size_t d = static_cast<std::size_t>(dim_);
  std::vector<float> lo(x, x + d), hi(x, x + d);
  for (idx_t i = 1; i < n; ++i) {
    const float* row = x + static_cast<std::size_t>(i) * d;
    for (std::size_t j = 0; j < d; ++j) {
      lo[j] = std::min(lo[j], row[j]);
      hi[j] = std::max(hi[j], row[j]);
    }
  }
  for (std::size_t j = 0; j < d; ++j) hi[j] -= lo[j];
  vmin_ = std::move(lo);
  vdiff_ = std::move(hi);
  trained_ = true;
}

void ScalarQuantizer::set_ranges(std::vector<float> vmin, std::vector<float> vdiff) {
  require(trained_type(type_), "the scalar quantizer type {} has no ranges", type_name(type_));
  require(vmin.size() == static_cast<std::size_t>(dim_) && vdiff.size() == vmin.size(),
          "set_ranges needs {} values in vmin and in vdiff, got {} and {}", dim_, vmin.size(),
          vdiff.size());
  for (std::size_t j = 0; j < vmin.size(); ++j) {
    require(std::isfinite(vmin[j]) && std::isfinite(vdiff[j]) && vdiff[j] >= 0.0f &&
                std::isfinite(vmin[j] + vdiff[j]),
            "scalar quantizer range {} is not finite and non-negative: vmin {}, vdiff {}", j,
            vmin[j], vdiff[j]);
  }
  vmin_ = std::move(vmin);
  vdiff_ = std::move(vdiff);
  trained_ = true;
}

void ScalarQuantizer::encode(idx_t n, const float* x, std::uint8_t* codes) const {
  require_trained("encode");
  const std::size_t d = static_cast<std::size_t>(dim_);
  for (idx_t i = 0; i < n; ++i) {
    const float* row = x + static_cast<std::size_t>(i) * d;
    std::uint8_t* code = codes + static_cast<std::size_t>(i) * code_size_;
    switch (type_) {
      case Type::QT_8bit:
        for (std::size_t j = 0; j < d; ++j) {
          code[j] = detail::uniform_encode(row[j], vmin_[j], vdiff_[j], 255);
        }
        break;
      case Type::QT_4bit:
        std::fill(code, code + code_size_, std::uint8_t{0});
        for (std::size_t j = 0; j < d; ++j) {
          const std::uint8_t c = detail::uniform_encode(row[j], vmin_[j], vdiff_[j], 15);
          code[j / 2] = static_cast<std::uint8_t>(code[j / 2] | (c << ((j & 1) * 4)));
        }
        break;
      case Type::QT_fp16:
      case Type::QT_bf16:
        for (std::size_t j = 0; j < d; ++j) {
          const std::uint16_t h = type_ == Type::QT_fp16 ? detail::float_to_half(row[j])
                                                         : detail::float_to_bf16(row[j]);
          std::memcpy(code + 2 * j, &h, 2);  // host byte order (little-endian on x86/ARM)
        }
        break;
    }
  }
}

void ScalarQuantizer::decode(idx_t n, const std::uint8_t* codes, float* x) const {
  require_trained("decode");
  const std::size_t d = static_cast<std::size_t>(dim_);
  for (idx_t i = 0; i < n; ++i) {
    float* row = x + static_cast<std::size_t>(i) * d;
    const std::uint8_t* code = codes + static_cast<std::size_t>(i) * code_size_;
    switch (type_) {
      case Type::QT_8bit:
        for (std::size_t j = 0; j < d; ++j) {
          row[j] = detail::uniform_decode(code[j], vmin_[j], vdiff_[j], 255);
        }
        break;
      case Type::QT_4bit:
        for (std::size_t j = 0; j < d; ++j) {
          const std::uint32_t c = (code[j / 2] >> ((j & 1) * 4)) & 15u;
          row[j] = detail::uniform_decode(c, vmin_[j], vdiff_[j], 15);
        }
        break;
      case Type::QT_fp16:
      case Type::QT_bf16:
        for (std::size_t j = 0; j < d; ++j) {
          std::uint16_t h;
          std::memcpy(&h, code + 2 * j, 2);
          row[j] = type_ == Type::QT_fp16 ? detail::half_to_float(h) : detail::bf16_to_float(h);
        }
        break;
    }
  }
}

double ScalarQuantizer::error_bound(int j, float x) const {
  const double ax = std::fabs(static_cast<double>(x));
  switch (type_) {
    case Type::QT_8bit:
    case Type::QT_4bit: {
      if (!trained_) return std::numeric_limits<double>::infinity();
      const double lo = vmin_[static_cast<std::size_t>(j)];
      const double width = vdiff_[static_cast<std::size_t>(j)];
      const double outside = std::max({0.0, lo - x, static_cast<double>(x) - (lo + width)});
      return width / (2.0 * levels_of(type_)) + outside;
    }
    case Type::QT_fp16:
      if (ax > static_cast<double>(detail::kHalfMax))
        return ax - static_cast<double>(detail::kHalfMax);
      return std::max(ax * 0x1p-11, 0x1p-25);
    case Type::QT_bf16:
      if (ax > static_cast<double>(detail::kBf16Max))
        return ax - static_cast<double>(detail::kBf16Max);
      return std::max(ax * 0x1p-8, 0x1p-134);
  }
  return std::numeric_limits<double>::infinity();
}

}  // namespace knnx
