// cuda/runtime/check.hpp — turning CUDA and cuBLAS status codes into knnx exceptions.
//
// KNNX_CUDA_CHECK(call) throws CudaError (OutOfMemory for cudaErrorMemoryAllocation) naming
// the call, file and line. check_launch() follows every kernel launch; with KNNX_SYNC_CHECK=1
// it also synchronises the stream so an asynchronous fault is reported at its launch.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace knnx::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* what, const char* file,
                                     int line);

// Checks the last launch on `stream`; synchronises first when sync_check is set.
void check_launch(cudaStream_t stream, bool sync_check, const char* kernel, const char* file,
                  int line);

}  // namespace knnx::cuda

#define KNNX_CUDA_CHECK(call)                                                        \
  do {                                                                               \
    const cudaError_t knnx_status_ = (call);                                         \
    if (knnx_status_ != cudaSuccess) {                                               \
      ::knnx::cuda::throw_cuda_error(knnx_status_, #call, __FILE__, __LINE__);       \
    }                                                                                \
  } while (0)

#define KNNX_CUBLAS_CHECK(call)                                                      \
  do {                                                                               \
    const cublasStatus_t knnx_status_ = (call);                                      \
    if (knnx_status_ != CUBLAS_STATUS_SUCCESS) {                                     \
      ::knnx::cuda::throw_cublas_error(knnx_status_, #call, __FILE__, __LINE__);     \
    }                                                                                \
  } while (0)

#define KNNX_CHECK_LAUNCH(stream, sync_check, kernel) \
  ::knnx::cuda::check_launch((stream), (sync_check), (kernel), __FILE__, __LINE__)
