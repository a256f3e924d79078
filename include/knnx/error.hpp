// knnx/error.hpp — the exception hierarchy thrown at every public boundary.
//
// Every error knnx reports derives from knnx::Error. Messages name the argument and the value
// that was wrong. Python maps InvalidArgument -> ValueError, OutOfMemory -> MemoryError,
// CudaError -> RuntimeError, FormatError and IoError -> OSError.
#pragma once

#include <stdexcept>
#include <string>

namespace knnx {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed a value the API does not accept (wrong dimension, k out of range, NaN, ...).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Host or device memory could not be obtained; the object the call was made on is unchanged.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

// The CUDA runtime, driver or a kernel launch reported a failure.
class CudaError : public Error {
 public:
  using Error::Error;
};

// A file's contents are not what its format promises (bad magic, truncated, inconsistent sizes).
class FormatError : public Error {
 public:
  using Error::Error;
};

// A file could not be opened, read, written or renamed.
class IoError : public Error {
 public:
  using Error::Error;
};

// The operation is not available in this build or for this index/device combination.
class NotSupported : public Error {
 public:
  using Error::Error;
};

}  // namespace knnx
