// core/check_flags.hpp — what a device check of rows reports (cuda launch_flag_unusable_rows),
// read on the host by detail::require_not_flagged (core/check.hpp). 0 is none.
#pragma once

namespace knnx::detail {

inline constexpr unsigned long long kFlagNonFinite = 1;       // a NaN or Inf
inline constexpr unsigned long long kFlagAboveNormBound = 2;  // a row above kMaxSquaredNorm

}  // namespace knnx::detail
