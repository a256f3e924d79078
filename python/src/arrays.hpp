// arrays.hpp — numpy arguments in, numpy results out.
//
// to_rows<T>() turns a Python argument (a numpy array, or anything numpy.asarray accepts) into a
// contiguous row-major matrix of T. A C-contiguous array that already has dtype T is used in
// place; anything else (float64, another integer width, Fortran order, a strided view) is
// converted once, in a single pass that also changes the layout. Every rejection raises
// knnx::InvalidArgument naming the argument: a non-numeric dtype (str, object, complex, bool),
// the wrong number of dimensions, the wrong column count, an empty array, or a value the target
// type cannot hold (float64 beyond the float32 range, an integer out of range).
//
// make_numpy() hands a buffer to numpy without copying; numpy frees it with the array.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "knnx/types.hpp"

namespace knnx::python {

namespace nb = nanobind;

// Which array ranks an argument accepts.
enum class Rank {
  kMatrix,          // 2-D (n, cols) only
  kMatrixOrVector,  // 2-D, or 1-D (cols,) read as a single row
  kVector,          // 1-D (n,), or a 0-D scalar read as one element; rows() == n, cols() == 1
};

struct ArraySpec {
  const char* name;             // the Python argument's name, used in every message
  Rank rank = Rank::kMatrix;
  idx_t cols = -1;              // required column count; -1 accepts any
  const char* cols_name = "d";  // what the required column count is called in messages
  bool allow_empty = false;
};

// A read-only rows x cols row-major matrix; a view of the caller's array or an owned copy.
template <typename T>
class Rows {
 public:
  idx_t rows() const { return rows_; }
  idx_t cols() const { return cols_; }
  idx_t size() const { return rows_ * cols_; }
  const T* data() const { return data_; }
  // True when data() points into the caller's array (no conversion was needed).
  bool is_view() const { return copy_ == nullptr; }
  // The numpy array the rows were read from (data() points into it when is_view()).
  const nb::object& source() const { return owner_; }

 private:
  template <typename U>
  friend Rows<U> to_rows(nb::handle obj, const ArraySpec& spec);

  nb::object owner_;              // keeps a viewed array alive (and any converted temporary)
  std::unique_ptr<T[]> copy_;     // set when the values were converted
  const T* data_ = nullptr;
  idx_t rows_ = 0;
  idx_t cols_ = 0;
};

// Instantiated for float, std::int32_t, std::int64_t and std::uint8_t. Needs the GIL; releases
// it while copying. Floating-point sources are rejected for integer targets.
template <typename T>
Rows<T> to_rows(nb::handle obj, const ArraySpec& spec);

extern template Rows<float> to_rows<float>(nb::handle, const ArraySpec&);
extern template Rows<std::int32_t> to_rows<std::int32_t>(nb::handle, const ArraySpec&);
extern template Rows<std::int64_t> to_rows<std::int64_t>(nb::handle, const ArraySpec&);
extern template Rows<std::uint8_t> to_rows<std::uint8_t>(nb::handle, const ArraySpec&);

// A numpy array that owns `values` (moved in); shape's product must equal values.size().
template <typename Array, typename T>
Array make_numpy(std::vector<T>&& values, std::initializer_list<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return Array(owned->data(), shape, owner);
}

// A numpy array that owns `values` (released into it).
template <typename Array, typename T>
Array make_numpy(std::unique_ptr<T[]> values, std::initializer_list<std::size_t> shape) {
  T* raw = values.release();
  nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  return Array(raw, shape, owner);
}

// A Python argument that to_rows() will read: anything numpy.asarray accepts. The type exists
// so that signatures and stubs say numpy.typing.ArrayLike rather than object.
struct ArrayLike {
  nb::handle obj;
  operator nb::handle() const { return obj; }  // NOLINT: implicit by design
};

// Shape of a Python array-like as text, e.g. "(3, 4)", for messages.
std::string shape_text(nb::handle array);

}  // namespace knnx::python

namespace nanobind::detail {

template <>
struct type_caster<knnx::python::ArrayLike> {
  NB_TYPE_CASTER(knnx::python::ArrayLike, const_name("numpy.typing.ArrayLike"))

  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    value.obj = src;  // validated by to_rows(), which names the argument in its errors
    return true;
  }
  static handle from_cpp(const knnx::python::ArrayLike& v, rv_policy, cleanup_list*) noexcept {
    return v.obj.inc_ref();
  }
};

}  // namespace nanobind::detail
