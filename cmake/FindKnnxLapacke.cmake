# Defines the interface target knnx_lapacke: LAPACKE (the C interface to LAPACK), used for the
# small dense factorisations (QR, SVD, symmetric eigenproblems) of the linear-algebra module.
# Debian: liblapacke-dev. It resolves LAPACK through the BLAS found by FindKnnxBlas.cmake.
find_library(KNNX_LAPACKE_LIBRARY NAMES lapacke
  HINTS /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu)
find_path(KNNX_LAPACKE_INCLUDE_DIR NAMES lapacke.h
  HINTS /usr/include /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu)
if(NOT KNNX_LAPACKE_LIBRARY OR NOT KNNX_LAPACKE_INCLUDE_DIR)
  message(FATAL_ERROR "knnx: LAPACKE not found (Debian/Ubuntu: apt-get install liblapacke-dev)")
endif()
message(STATUS "knnx: LAPACKE ${KNNX_LAPACKE_LIBRARY} (lapacke.h in ${KNNX_LAPACKE_INCLUDE_DIR})")
add_library(knnx_lapacke INTERFACE)
target_link_libraries(knnx_lapacke INTERFACE ${KNNX_LAPACKE_LIBRARY} knnx_blas)
target_include_directories(knnx_lapacke INTERFACE ${KNNX_LAPACKE_INCLUDE_DIR})
