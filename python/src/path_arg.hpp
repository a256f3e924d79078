// path_arg.hpp — file path arguments: str, bytes or os.PathLike, encoded as os.fsencode does.
//
// nanobind's std::filesystem::path caster refuses a path holding a NUL character with a
// TypeError about the argument types; PathArg keeps the NUL, so that the C++ side refuses it
// with knnx.InvalidArgument (a ValueError) naming where it is, as Python's own open() does.
#pragma once

#include <nanobind/nanobind.h>

#include <string>

namespace knnx::python {

struct PathArg {
  std::string value;
};

}  // namespace knnx::python

namespace nanobind::detail {

template <>
struct type_caster<knnx::python::PathArg> {
  NB_TYPE_CASTER(knnx::python::PathArg, const_name("str | os.PathLike"))

  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    PyObject* fspath = PyOS_FSPath(src.ptr());
    if (fspath == nullptr) {
      PyErr_Clear();
      return false;
    }
    PyObject* bytes = PyUnicode_Check(fspath) ? PyUnicode_EncodeFSDefault(fspath) : fspath;
    if (bytes != fspath) Py_DECREF(fspath);
    if (bytes == nullptr || !PyBytes_Check(bytes)) {
      Py_XDECREF(bytes);
      PyErr_Clear();
      return false;
    }
    value.value.assign(PyBytes_AS_STRING(bytes), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes)));
    Py_DECREF(bytes);
    return true;
  }

  static handle from_cpp(const knnx::python::PathArg& p, rv_policy, cleanup_list*) noexcept {
    return PyUnicode_DecodeFSDefaultAndSize(p.value.data(),
                                            static_cast<Py_ssize_t>(p.value.size()));
  }
};

}  // namespace nanobind::detail
