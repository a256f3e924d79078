// core/npy_literal.hpp — the header of an .npy file is a Python dict literal; this parses the
// subset of Python literals such headers use (and a little more, so that a header with an
// unexpected but well-formed value is reported by name rather than as a syntax error).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace knnx::detail::npy {

struct PyValue {
  enum class Kind { Str, Bool, None, Int, Tuple, List, Dict };
  Kind kind = Kind::None;
  std::string str;
  bool boolean = false;
  std::int64_t integer = 0;
  std::vector<std::string> keys;  // Dict
  std::vector<PyValue> items;     // Tuple, List; Dict values (parallel to keys)
};

// text with control and non-ASCII bytes escaped (\xNN), cut at 200 characters: header bytes
// quoted in a message (a NUL must not end it).
std::string printable(std::string_view text);

// The value text holds (FormatError naming path and the byte where parsing failed).
PyValue parse_literal(std::string_view text, const std::string& path);

}  // namespace knnx::detail::npy
