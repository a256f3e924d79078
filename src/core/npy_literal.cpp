// The Python literal parser of .npy headers (core/npy_literal.hpp).
#include "core/npy_literal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

#include "core/vector_file_util.hpp"

namespace knnx::detail::npy {
namespace {

using vector_file::throw_format;

constexpr int kMaxLiteralDepth = 32;

}  // namespace

std::string printable(std::string_view text) {
  constexpr std::size_t kMaxShown = 200;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

namespace {

class LiteralParser {
 public:
  LiteralParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  PyValue parse_document() {
    PyValue v = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the dictionary");
    return v;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw_format(path_, "malformed .npy header at byte {}: {} (header: \"{}\")", pos_, what,
                 printable(text_));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r' ||
                         peek() == '\f' || peek() == '\v')) {
      ++pos_;
    }
  }

  void expect(char c) {
    skip_space();
    if (at_end() || peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxLiteralDepth) fail("values nested too deeply");
    skip_space();
    if (at_end()) fail("unexpected end of header");
    const char c = peek();
    if (c == '\'' || c == '"') return parse_string();
    if (c == '{') return parse_dict(depth);
    if (c == '(') return parse_sequence(depth, ')', PyValue::Kind::Tuple);
    if (c == '[') return parse_sequence(depth, ']', PyValue::Kind::List);
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) return parse_int();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return parse_name();
    fail(fmt::format("unexpected character '{}'", printable(std::string_view(&c, 1))));
  }

  PyValue parse_string() {
    const char quote = peek();
    ++pos_;
    PyValue v;
    v.kind = PyValue::Kind::Str;
    while (true) {
      if (at_end() || peek() == '\n') fail("unterminated string");
      char c = peek();
      ++pos_;
      if (c == quote) break;
      if (c == '\\') {
        if (at_end()) fail("unterminated string");
        c = peek();
        ++pos_;
      }
      v.str += c;
    }
    return v;
  }

  PyValue parse_int() {
    const std::size_t start = pos_;
    bool negative = false;
    if (peek() == '-' || peek() == '+') {
      negative = peek() == '-';
      ++pos_;
    }
    if (at_end() || !std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a digit");
    // Accumulate as a negative number so that INT64_MIN is representable.
    std::int64_t value = 0;
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
      const int digit = peek() - '0';
      if (value < (kMin + digit) / 10) {
        while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
        fail(fmt::format("integer {} does not fit in 64 bits", text_.substr(start, pos_ - start)));
      }
      value = value * 10 - digit;
      ++pos_;
    }
    if (!at_end() && (peek() == 'L' || peek() == 'l')) ++pos_;  // Python 2 long suffix
    if (!negative) {
      if (value == kMin) {
        fail(fmt::format("integer {} does not fit in 64 bits", text_.substr(start, pos_ - start)));
      }
      value = -value;
    }
    PyValue v;
    v.kind = PyValue::Kind::Int;
    v.integer = value;
    return v;
  }

  PyValue parse_name() {
    const std::size_t start = pos_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_')) {
      ++pos_;
    }
    const std::string_view name = text_.substr(start, pos_ - start);
    PyValue v;
    if (name == "True" || name == "False") {
      v.kind = PyValue::Kind::Bool;
      v.boolean = name == "True";
    } else if (name == "None") {
      v.kind = PyValue::Kind::None;
    } else {
      pos_ = start;
      fail(fmt::format("unknown name '{}'", printable(name)));
    }
    return v;
  }

  // "(a, b)", "(a,)", "()" are tuples; "(a)" is just a; "[...]" is a list.
  PyValue parse_sequence(int depth, char close, PyValue::Kind kind) {
    ++pos_;
    PyValue v;
    v.kind = kind;
    bool comma = false;
    skip_space();
    while (true) {
      skip_space();
      if (!at_end() && peek() == close) {
        ++pos_;
        break;
      }
      v.items.push_back(parse_value(depth + 1));
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        comma = true;
        continue;
      }
      if (!at_end() && peek() == close) {
        ++pos_;
        break;
      }
      fail(fmt::format("expected ',' or '{}'", close));
    }
    if (kind == PyValue::Kind::Tuple && v.items.size() == 1 && !comma) {
      return std::move(v.items.front());
    }
    return v;
  }

  PyValue parse_dict(int depth) {
    ++pos_;
    PyValue v;
    v.kind = PyValue::Kind::Dict;
    while (true) {
      skip_space();
      if (!at_end() && peek() == '}') {
        ++pos_;
        break;
      }
      const std::size_t key_pos = pos_;
      PyValue key = parse_value(depth + 1);
      if (key.kind != PyValue::Kind::Str) {
        pos_ = key_pos;
        fail("dictionary keys must be strings");
      }
      if (std::find(v.keys.begin(), v.keys.end(), key.str) != v.keys.end()) {
        pos_ = key_pos;
        fail(fmt::format("key '{}' appears more than once", printable(key.str)));
      }
      expect(':');
      v.keys.push_back(std::move(key.str));
      v.items.push_back(parse_value(depth + 1));
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      if (!at_end() && peek() == '}') {
        ++pos_;
        break;
      }
      fail("expected ',' or '}'");
    }
    return v;
  }

  std::string_view text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

}  // namespace

PyValue parse_literal(std::string_view text, const std::string& path) {
  return LiteralParser(text, path).parse_document();
}

}  // namespace knnx::detail::npy
