// arrays.cpp — conversion of Python array arguments to contiguous C++ matrices.
#include "arrays.hpp"

#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "knnx/error.hpp"

namespace knnx::python {
namespace {

using ReadOnlyArray = nb::ndarray<nb::ro, nb::device::cpu>;

template <typename T>
constexpr const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, std::int32_t>) return "int32";
  if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  if constexpr (std::is_same_v<T, std::uint8_t>) return "uint8";
}

// Whether source value v survives conversion to T unchanged in kind: integers must be in range;
// a finite float64 must stay finite as float32 (NaN and Inf pass through for the index to judge).
template <typename T, typename S>
bool representable(S v) {
  if constexpr (std::is_floating_point_v<S>) {
    static_assert(std::is_same_v<T, float>);
    if constexpr (std::is_same_v<S, double>) {
      return !(std::isfinite(v) && std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max()));
    }
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    return true;
  } else {
    return std::in_range<T>(v);
  }
}

std::string element_text(const ArraySpec& spec, idx_t i, idx_t j) {
  if (spec.rank == Rank::kVector) return fmt::format("{}[{}]", spec.name, i);
  return fmt::format("{}[{}, {}]", spec.name, i, j);
}

// Copies a rows x cols strided matrix of S (element strides s0, s1) into dst, row-major.
// Returns false when some value is not representable in T (dst is then partly written).
template <typename T, typename S>
bool convert(const S* src, std::int64_t s0, std::int64_t s1, idx_t rows, idx_t cols, T* dst) {
  bool ok = true;
  if (s1 == 1) {
    for (idx_t i = 0; i < rows; ++i) {
      const S* in = src + i * s0;
      T* out = dst + i * cols;
      for (idx_t j = 0; j < cols; ++j) {
        ok &= representable<T>(in[j]);
        out[j] = static_cast<T>(in[j]);
      }
    }
    return ok;
  }
  // Columns are strided (e.g. Fortran order): work in square tiles so that both the reads and
  // the writes stay within a few cache lines.
  constexpr idx_t kTile = 64;
  for (idx_t i0 = 0; i0 < rows; i0 += kTile) {
    const idx_t i1 = std::min(rows, i0 + kTile);
    for (idx_t j0 = 0; j0 < cols; j0 += kTile) {
      const idx_t j1 = std::min(cols, j0 + kTile);
      for (idx_t i = i0; i < i1; ++i) {
        for (idx_t j = j0; j < j1; ++j) {
          const S v = src[i * s0 + j * s1];
          ok &= representable<T>(v);
          dst[i * cols + j] = static_cast<T>(v);
        }
      }
    }
  }
  return ok;
}

template <typename T, typename S>
[[noreturn]] void throw_unrepresentable(const S* src, std::int64_t s0, std::int64_t s1, idx_t rows,
                                        idx_t cols, const ArraySpec& spec) {
  for (idx_t i = 0; i < rows; ++i) {
    for (idx_t j = 0; j < cols; ++j) {
      const S v = src[i * s0 + j * s1];
      if (!representable<T>(v)) {
        if constexpr (std::is_floating_point_v<S>) {
          throw InvalidArgument(fmt::format("{} = {} is outside the float32 range",
                                            element_text(spec, i, j), v));
        } else {
          throw InvalidArgument(fmt::format("{} = {} does not fit in {}", element_text(spec, i, j),
                                            +v, type_name<T>()));
        }
      }
    }
  }
  throw InvalidArgument(fmt::format("{} holds a value that does not fit in {}", spec.name,
                                    type_name<T>()));
}

// Converts from source scalar type S; false when the array's dtype is not S.
template <typename T, typename S>
bool try_convert_from(const ReadOnlyArray& a, idx_t rows, idx_t cols, std::int64_t s0,
                      std::int64_t s1, T* dst, const ArraySpec& spec) {
  if (a.dtype() != nb::dtype<S>()) return false;
  const S* src = static_cast<const S*>(a.data());
  bool ok = true;
  {
    nb::gil_scoped_release release;
    ok = convert<T>(src, s0, s1, rows, cols, dst);
  }
  if (!ok) throw_unrepresentable<T>(src, s0, s1, rows, cols, spec);
  return true;
}

template <typename T>
bool convert_any(const ReadOnlyArray& a, idx_t rows, idx_t cols, std::int64_t s0,
                 std::int64_t s1, T* dst, const ArraySpec& spec) {
  if constexpr (std::is_floating_point_v<T>) {
    if (try_convert_from<T, float>(a, rows, cols, s0, s1, dst, spec) ||
        try_convert_from<T, double>(a, rows, cols, s0, s1, dst, spec)) {
      return true;
    }
  }
  return try_convert_from<T, std::int8_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::int16_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::int32_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::int64_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::uint8_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::uint16_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::uint32_t>(a, rows, cols, s0, s1, dst, spec) ||
         try_convert_from<T, std::uint64_t>(a, rows, cols, s0, s1, dst, spec);
}

// The source dtypes convert_any() reads.
bool directly_convertible(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  if (t.lanes != 1) return false;
  if (t.code == static_cast<std::uint8_t>(Code::Float)) return t.bits == 32 || t.bits == 64;
  if (t.code == static_cast<std::uint8_t>(Code::Int) ||
      t.code == static_cast<std::uint8_t>(Code::UInt)) {
    return t.bits == 8 || t.bits == 16 || t.bits == 32 || t.bits == 64;
  }
  return false;
}

std::string expected_text(const ArraySpec& spec) {
  const std::string cols = spec.cols >= 0 ? std::to_string(spec.cols) : std::string("cols");
  switch (spec.rank) {
    case Rank::kMatrix: return fmt::format("a 2-D array (n, {})", cols);
    case Rank::kMatrixOrVector:
      return fmt::format("a 2-D array (n, {0}) or a 1-D array ({0},)", cols);
    case Rank::kVector: return "a 1-D array";
  }
  return "an array";
}

}  // namespace

std::string shape_text(nb::handle array) {
  return nb::repr(array.attr("shape")).c_str();  // "(3, 4)", "(5,)"
}

template <typename T>
Rows<T> to_rows(nb::handle obj, const ArraySpec& spec) {
  if (obj.is_none()) {
    throw InvalidArgument(fmt::format("{} must be {}, got None", spec.name, expected_text(spec)));
  }
  nb::module_ np = nb::module_::import_("numpy");
  nb::object array = nb::borrow(obj);
  if (!nb::isinstance(array, np.attr("ndarray"))) array = np.attr("asarray")(array);

  // Kind codes: f float, i signed, u unsigned; b bool, c complex, O object, U/S text, ...
  nb::object dtype = array.attr("dtype");
  const std::string kind = nb::cast<std::string>(dtype.attr("kind"));
  const int ndim = nb::cast<int>(array.attr("ndim"));

  bool numeric = kind == "i" || kind == "u";
  if constexpr (std::is_floating_point_v<T>) numeric = numeric || kind == "f";
  const bool empty = nb::cast<std::size_t>(array.attr("size")) == 0;
  if (!numeric && !(empty && spec.allow_empty)) {
    throw InvalidArgument(fmt::format("{} must hold {}, got dtype {}", spec.name,
                                      std::is_floating_point_v<T>
                                          ? "real numbers (float32 or float64)"
                                          : "integers",
                                      nb::str(dtype).c_str()));
  }

  const bool rank_ok = spec.rank == Rank::kMatrix           ? ndim == 2
                       : spec.rank == Rank::kMatrixOrVector ? ndim == 1 || ndim == 2
                                                            : ndim == 0 || ndim == 1;
  if (!rank_ok) {
    throw InvalidArgument(fmt::format("{} must be {}, got a {}-D array of shape {}", spec.name,
                                      expected_text(spec), ndim, shape_text(array)));
  }

  Rows<T> result;
  nb::tuple shape = nb::borrow<nb::tuple>(array.attr("shape"));
  if (spec.rank == Rank::kVector) {
    result.rows_ = ndim == 0 ? 1 : nb::cast<idx_t>(shape[0]);
    result.cols_ = 1;
  } else if (ndim == 1) {
    result.rows_ = 1;
    result.cols_ = nb::cast<idx_t>(shape[0]);
  } else {
    result.rows_ = nb::cast<idx_t>(shape[0]);
    result.cols_ = nb::cast<idx_t>(shape[1]);
  }

  if (spec.cols >= 0 && result.cols_ != spec.cols && !(empty && spec.allow_empty)) {
    std::string hint;
    if (ndim == 1 && spec.cols == 1) {
      hint = fmt::format("; a 1-D array is one vector: pass {}.reshape(-1, 1) for {} vectors "
                         "of dimension 1", spec.name, result.cols_);
    }
    throw InvalidArgument(fmt::format("{} has {} columns (shape {}), expected {} = {}{}",
                                      spec.name, result.cols_, shape_text(array), spec.cols_name,
                                      spec.cols, hint));
  }
  if (empty) {
    if (!spec.allow_empty) {
      throw InvalidArgument(fmt::format("{} is empty (shape {})", spec.name, shape_text(array)));
    }
    result.rows_ = 0;
    result.owner_ = array;
    return result;
  }

  // Zero-copy view of the caller's buffer when possible; otherwise convert in one pass.
  ReadOnlyArray view;
  if (!nb::try_cast(array, view, /*convert=*/false) || !directly_convertible(view.dtype())) {
    // Dtypes knnx does not read directly (byte-swapped, float16, long double, unaligned
    // buffers): let numpy make a native 64-bit copy first.
    const char* native = kind == "f" ? "float64" : "int64";
    if (kind == "u") native = "uint64";
    array = np.attr("ascontiguousarray")(array, nb::arg("dtype") = native);
    if (!nb::try_cast(array, view, /*convert=*/false)) {
      throw InvalidArgument(fmt::format("{} (dtype {}) cannot be read as a numeric array",
                                        spec.name, nb::str(dtype).c_str()));
    }
  }
  std::int64_t s0 = 0;
  std::int64_t s1 = 1;
  if (spec.rank == Rank::kVector) {
    s0 = view.ndim() == 0 ? 1 : view.stride(0);
  } else if (view.ndim() == 1) {
    s0 = result.cols_;
    s1 = view.stride(0);
  } else {
    s0 = view.stride(0);
    s1 = view.stride(1);
  }
  const bool contiguous = s1 == 1 && (result.rows_ == 1 || s0 == result.cols_);

  if (view.dtype() == nb::dtype<T>() && contiguous) {
    result.data_ = static_cast<const T*>(view.data());
  } else {
    result.copy_.reset(new T[static_cast<std::size_t>(result.rows_ * result.cols_)]);
    if (!convert_any<T>(view, result.rows_, result.cols_, s0, s1, result.copy_.get(), spec)) {
      throw InvalidArgument(fmt::format("{} has dtype {}, which knnx cannot convert to {}",
                                        spec.name, nb::str(dtype).c_str(), type_name<T>()));
    }
    result.data_ = result.copy_.get();
  }
  result.owner_ = array;
  return result;
}

template Rows<float> to_rows<float>(nb::handle, const ArraySpec&);
template Rows<std::int32_t> to_rows<std::int32_t>(nb::handle, const ArraySpec&);
template Rows<std::int64_t> to_rows<std::int64_t>(nb::handle, const ArraySpec&);
template Rows<std::uint8_t> to_rows<std::uint8_t>(nb::handle, const ArraySpec&);

}  // namespace knnx::python
