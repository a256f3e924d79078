#include "knnx/build_info.hpp"

#include <omp.h>

#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/version.hpp"

#if defined(KNNX_HAVE_OPENBLAS)
extern "C" char* openblas_get_config(void);
#endif

namespace knnx {
namespace {

std::string blas_description() {
  std::string out = KNNX_BLAS_LIBRARY;  // the library CMake linked, from FindKnnxBlas.cmake
#if defined(KNNX_HAVE_OPENBLAS)
  if (const char* config = openblas_get_config()) out += std::string(" (") + config + ")";
#endif
  return out;
}

}  // namespace

BuildInfo build_info() {
  BuildInfo info;
  info.version = kVersionString;
  info.cuda_compiled = cuda_backend_compiled();
  const int count = cuda_device_count();
  for (int i = 0; i < count; ++i) info.cuda_devices.push_back(cuda_device_name(i));
  info.blas = blas_description();
  info.cpu_threads = config().num_threads > 0 ? config().num_threads : omp_get_max_threads();
  info.cpu_processors = omp_get_num_procs();
  return info;
}

}  // namespace knnx
