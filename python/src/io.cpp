// io.cpp — vector files (.fvecs, .ivecs, .bvecs, .npy) to and from numpy arrays.
//
// Readers return arrays that own the loaded buffer (no second copy). Writers take any array
// to_rows() accepts and convert it to the file's element type, rejecting values that type
// cannot hold. Paths may be str or os.PathLike. The GIL is released while the file is read or
// written.
#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <cstring>
#include <string>

#include "arrays.hpp"
#include "bindings.hpp"
#include "knnx/error.hpp"
#include "knnx/vector_io.hpp"
#include "path_arg.hpp"

namespace knnx::python {
namespace {

template <typename T>
using Array2D = nb::ndarray<nb::numpy, T, nb::ndim<2>, nb::c_contig>;

template <typename T>
Array2D<T> to_numpy(Matrix<T>&& m) {
  const auto rows = static_cast<std::size_t>(m.rows);
  const auto cols = static_cast<std::size_t>(m.cols);
  return make_numpy<Array2D<T>>(std::move(m.data), {rows, cols});
}

template <typename T>
Matrix<T> to_matrix(ArrayLike x) {
  const Rows<T> rows = to_rows<T>(x, ArraySpec{.name = "x", .rank = Rank::kMatrixOrVector});
  Matrix<T> m;
  m.rows = rows.rows();
  m.cols = rows.cols();
  m.data.assign(rows.data(), rows.data() + rows.size());
  return m;
}

template <typename T, Matrix<T> (*Read)(const std::string&, idx_t)>
Array2D<T> read_vecs(const PathArg& path, idx_t max_rows) {
  Matrix<T> m;
  {
    nb::gil_scoped_release release;
    m = Read(path.value, max_rows);
  }
  return to_numpy(std::move(m));
}

template <typename T, void (*Write)(const std::string&, const Matrix<T>&)>
void write_file(const PathArg& path, ArrayLike x) {
  const Matrix<T> m = to_matrix<T>(x);
  nb::gil_scoped_release release;
  Write(path.value, m);
}

// An .npy file as an array of its own dtype and rank (1-D or 2-D).
nb::ndarray<nb::numpy> read_npy_array(const PathArg& path) {
  NpyArray a;
  {
    nb::gil_scoped_release release;
    a = read_npy(path.value);
  }
  nb::dlpack::dtype dtype;
  switch (a.dtype) {
    case DType::Float32: dtype = nb::dtype<float>(); break;
    case DType::UInt8: dtype = nb::dtype<std::uint8_t>(); break;
    case DType::Int32: dtype = nb::dtype<std::int32_t>(); break;
    case DType::Int64: dtype = nb::dtype<std::int64_t>(); break;
    case DType::Float64: dtype = nb::dtype<double>(); break;
  }
  std::size_t shape[2] = {0, 0};
  for (std::size_t i = 0; i < a.shape.size(); ++i) shape[i] = static_cast<std::size_t>(a.shape[i]);
  auto* owned = new std::vector<std::uint8_t>(std::move(a.bytes));
  nb::capsule owner(owned, [](void* p) noexcept {
    delete static_cast<std::vector<std::uint8_t>*>(p);
  });
  return nb::ndarray<nb::numpy>(owned->data(), a.shape.size(), shape, owner, nullptr, dtype);
}

// Writes a 1-D or 2-D float32/int32/int64/uint8 array as .npy, keeping its dtype and rank.
void write_npy_array(const PathArg& path, ArrayLike x) {
  nb::module_ np = nb::module_::import_("numpy");
  nb::object array = nb::isinstance(x.obj, np.attr("ndarray")) ? nb::borrow(x.obj)
                                                               : np.attr("asarray")(x.obj);
  const nb::object dtype_object = array.attr("dtype");
  const std::string dtype = nb::str(dtype_object).c_str();
  const int ndim = nb::cast<int>(array.attr("ndim"));
  NpyArray out;
  auto fill = [&]<typename T>(DType code) {
    const Rows<T> rows = to_rows<T>(array, ArraySpec{.name = "x", .rank = Rank::kMatrixOrVector});
    out.dtype = code;
    out.shape = ndim == 1 ? std::vector<idx_t>{rows.cols()}
                          : std::vector<idx_t>{rows.rows(), rows.cols()};
    out.bytes.resize(static_cast<std::size_t>(rows.size()) * sizeof(T));
    std::memcpy(out.bytes.data(), rows.data(), out.bytes.size());
  };
  if (dtype == "float32") {
    fill.operator()<float>(DType::Float32);
  } else if (dtype == "int32") {
    fill.operator()<std::int32_t>(DType::Int32);
  } else if (dtype == "int64") {
    fill.operator()<std::int64_t>(DType::Int64);
  } else if (dtype == "uint8") {
    fill.operator()<std::uint8_t>(DType::UInt8);
  } else {
    throw InvalidArgument(fmt::format(
        "x has dtype {}; write_npy writes float32, int32, int64 or uint8 (convert with "
        "x.astype(...), or use numpy.save)", dtype));
  }
  nb::gil_scoped_release release;
  write_npy(path.value, out);
}

}  // namespace

void bind_io(nb::module_& m) {
  m.def("read_vectors", &read_vecs<float, &read_vectors>, nb::arg("path"),
        nb::arg("max_rows") = -1,
        "Vectors from a .fvecs, .bvecs or .npy file (by extension) as float32 (n, d). At most\n"
        "max_rows rows when max_rows >= 0. float64 .npy files are rounded to float32; a value\n"
        "that is not a finite float32 (NaN, Inf, beyond 3.4e38) is a knnx.FormatError. Raises\n"
        "knnx.FormatError (an OSError) for a malformed file and knnx.IoError (an OSError) for\n"
        "one that cannot be read.");
  m.def(
      "read_labels",
      [](const PathArg& path) {
        Matrix<std::int64_t> labels;
        {
          nb::gil_scoped_release release;
          labels = read_labels(path.value);
        }
        return to_numpy(std::move(labels));
      },
      nb::arg("path"), "Ids or ground-truth labels from an .ivecs or .npy file as int64 (n, k).");
  m.def("read_fvecs", &read_vecs<float, &read_fvecs>, nb::arg("path"), nb::arg("max_rows") = -1,
        "A .fvecs file as float32 (n, d).");
  m.def("read_ivecs", &read_vecs<std::int32_t, &read_ivecs>, nb::arg("path"),
        nb::arg("max_rows") = -1, "An .ivecs file as int32 (n, d).");
  m.def("read_bvecs", &read_vecs<std::uint8_t, &read_bvecs>, nb::arg("path"),
        nb::arg("max_rows") = -1, "A .bvecs file as uint8 (n, d).");
  m.def("read_npy", &read_npy_array, nb::arg("path"),
        "An .npy file (float32, float64, uint8, int32 or int64; 1-D or 2-D; C or Fortran\n"
        "order) as an array of the same dtype and shape, in C order.");
  m.def("write_fvecs", &write_file<float, &write_fvecs>, nb::arg("path"), nb::arg("x"),
        "Writes x (n, d) as .fvecs (float32; float64 is converted, values beyond the float32\n"
        "range are rejected). The file is written to a temporary name and renamed.");
  m.def("write_ivecs", &write_file<std::int32_t, &write_ivecs>, nb::arg("path"), nb::arg("x"),
        "Writes the integer array x (n, d) as .ivecs; values must fit in int32.");
  m.def("write_bvecs", &write_file<std::uint8_t, &write_bvecs>, nb::arg("path"), nb::arg("x"),
        "Writes the integer array x (n, d) as .bvecs; values must fit in uint8.");
  m.def("write_npy", &write_npy_array, nb::arg("path"), nb::arg("x"),
        "Writes a 1-D or 2-D float32, int32, int64 or uint8 array as .npy (format 1.0, C order).");
}

}  // namespace knnx::python
