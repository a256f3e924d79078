// errors.cpp — the knnx exception hierarchy as Python exceptions.
//
// Every class derives from knnx.Error (so `except knnx.Error` catches all of them) and from the
// built-in exception a Python user expects, so plain `except ValueError` works as well:
//   InvalidArgument -> ValueError       OutOfMemory  -> MemoryError
//   CudaError       -> RuntimeError     NotSupported -> NotImplementedError (a RuntimeError)
//   FormatError, IoError -> OSError     any other knnx::Error -> InternalError (a RuntimeError)
// The C++ message becomes the Python message unchanged.
#include <Python.h>

#include <exception>
#include <new>

#include "bindings.hpp"
#include "knnx/error.hpp"

namespace knnx::python {
namespace {

struct ExceptionTypes {
  PyObject* error = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* out_of_memory = nullptr;
  PyObject* cuda_error = nullptr;
  PyObject* format_error = nullptr;
  PyObject* io_error = nullptr;
  PyObject* not_supported = nullptr;
  PyObject* internal_error = nullptr;
};

// Owned for the life of the process: the translator may run during interpreter shutdown.
ExceptionTypes g_types;

PyObject* new_exception(nb::module_& m, const char* name, const char* doc,
                        std::initializer_list<PyObject*> bases) {
  nb::tuple base_tuple = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(bases.size())));
  Py_ssize_t i = 0;
  for (PyObject* base : bases) {
    Py_INCREF(base);
    PyTuple_SET_ITEM(base_tuple.ptr(), i++, base);
  }
  const std::string qualified = std::string("knnx.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base_tuple.ptr(), nullptr);
  if (type == nullptr) throw nb::python_error();
  m.attr(name) = nb::borrow(type);  // the module holds one reference, g_types the other
  return type;
}

void translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const InvalidArgument& e) {
    PyErr_SetString(g_types.invalid_argument, e.what());
  } catch (const OutOfMemory& e) {
    PyErr_SetString(g_types.out_of_memory, e.what());
  } catch (const CudaError& e) {
    PyErr_SetString(g_types.cuda_error, e.what());
  } catch (const FormatError& e) {
    PyErr_SetString(g_types.format_error, e.what());
  } catch (const IoError& e) {
    PyErr_SetString(g_types.io_error, e.what());
  } catch (const NotSupported& e) {
    PyErr_SetString(g_types.not_supported, e.what());
  } catch (const Error& e) {
    PyErr_SetString(g_types.internal_error, e.what());
  } catch (const std::bad_alloc&) {
    // One hierarchy in both languages: an allocation that failed anywhere is knnx.OutOfMemory.
    PyErr_SetString(g_types.out_of_memory, "out of host memory (std::bad_alloc)");
  }
  // Anything else propagates to nanobind's own translators.
}

}  // namespace

void bind_errors(nb::module_& m) {
  g_types.error = new_exception(m, "Error", "Base class of every error knnx raises.",
                                {PyExc_Exception});
  g_types.invalid_argument = new_exception(
      m, "InvalidArgument",
      "An argument knnx does not accept (wrong shape, dtype, k out of range, NaN, ...). "
      "The object the call was made on is unchanged.",
      {g_types.error, PyExc_ValueError});
  g_types.out_of_memory = new_exception(
      m, "OutOfMemory",
      "Host or device memory could not be obtained; the object the call was made on is "
      "unchanged.",
      {g_types.error, PyExc_MemoryError});
  g_types.cuda_error = new_exception(
      m, "CudaError", "The CUDA runtime, driver or a kernel launch reported a failure.",
      {g_types.error, PyExc_RuntimeError});
  g_types.format_error = new_exception(
      m, "FormatError",
      "A file's contents are not what its format promises (bad magic, truncated, inconsistent "
      "sizes).",
      {g_types.error, PyExc_OSError});
  g_types.io_error = new_exception(
      m, "IoError", "A file could not be opened, read, written or renamed.",
      {g_types.error, PyExc_OSError});
  g_types.not_supported = new_exception(
      m, "NotSupported",
      "The operation is not available in this build or for this index/device combination.",
      {g_types.error, PyExc_NotImplementedError});
  g_types.internal_error = new_exception(
      m, "InternalError", "A knnx failure that none of the more specific classes describes.",
      {g_types.error, PyExc_RuntimeError});
  nb::register_exception_translator(&translate);
}

}  // namespace knnx::python
