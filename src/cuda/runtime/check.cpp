#include "cuda/runtime/check.hpp"

#include <fmt/format.h>

#include "knnx/error.hpp"

namespace knnx::cuda {

void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a sticky non-fatal error so later calls are not blamed
  const std::string msg = fmt::format("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(status),
                                      cudaGetErrorString(status), what, file, line);
  if (status == cudaErrorMemoryAllocation) throw OutOfMemory(msg);
  throw CudaError(msg);
}

void throw_cublas_error(cublasStatus_t status, const char* what, const char* file, int line) {
  const std::string msg = fmt::format("cuBLAS error {} ({}) in {} at {}:{}",
                                      cublasGetStatusName(status), cublasGetStatusString(status),
                                      what, file, line);
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemory(msg);
  throw CudaError(msg);
}

void check_launch(cudaStream_t stream, bool sync_check, const char* kernel, const char* file,
                  int line) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess && sync_check) status = cudaStreamSynchronize(stream);
  if (status != cudaSuccess) throw_cuda_error(status, kernel, file, line);
}

}  // namespace knnx::cuda
