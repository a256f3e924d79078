# Defines the interface target knnx_blas: a CBLAS (OpenBLAS preferred).
# The OpenMP build of OpenBLAS is preferred: inside knnx's own OpenMP regions it runs
# single-threaded instead of starting a second thread pool that fights OpenMP for the cores.
set(_knnx_blas_hints
  /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  /usr/lib/x86_64-linux-gnu/openblas-pthread /usr/lib/aarch64-linux-gnu/openblas-pthread)
set(_knnx_cblas_hints
  /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
  /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/aarch64-linux-gnu/openblas-pthread
  /usr/include/openblas /usr/include/x86_64-linux-gnu)
find_library(KNNX_OPENBLAS_LIBRARY NAMES openblas HINTS ${_knnx_blas_hints})
find_path(KNNX_CBLAS_INCLUDE_DIR NAMES cblas.h HINTS ${_knnx_cblas_hints})
add_library(knnx_blas INTERFACE)
if(KNNX_OPENBLAS_LIBRARY AND KNNX_CBLAS_INCLUDE_DIR)
  message(STATUS "knnx: BLAS ${KNNX_OPENBLAS_LIBRARY} (cblas.h in ${KNNX_CBLAS_INCLUDE_DIR})")
  target_link_libraries(knnx_blas INTERFACE ${KNNX_OPENBLAS_LIBRARY})
  target_include_directories(knnx_blas INTERFACE ${KNNX_CBLAS_INCLUDE_DIR})
  target_compile_definitions(knnx_blas INTERFACE KNNX_HAVE_OPENBLAS=1)
  set(KNNX_BLAS_DESCRIPTION "${KNNX_OPENBLAS_LIBRARY}")
  set(KNNX_BLAS_GENERIC OFF)
else()
  set(BLA_VENDOR Generic)
  find_package(BLAS REQUIRED)
  find_path(KNNX_CBLAS_INCLUDE_DIR NAMES cblas.h REQUIRED)
  message(STATUS "knnx: BLAS ${BLAS_LIBRARIES} (no OpenBLAS found)")
  target_link_libraries(knnx_blas INTERFACE BLAS::BLAS)
  string(JOIN " " KNNX_BLAS_DESCRIPTION ${BLAS_LIBRARIES})
  set(KNNX_BLAS_GENERIC ON)  # knnxConfig.cmake finds BLAS again for static consumers
  target_include_directories(knnx_blas INTERFACE ${KNNX_CBLAS_INCLUDE_DIR})
endif()
