# Install rules and the knnx CMake package: `cmake --install <build> --prefix <dir>` installs the
# headers, libknnx, the knnx tool (when built) and lib/cmake/knnx/knnxConfig*.cmake, so that
#   find_package(knnx 0.2 REQUIRED)
#   target_link_libraries(app PRIVATE knnx::knnx)
# works, with the C++20 requirement and every dependency (fmt, OpenMP, the CUDA toolkit when
# built with CUDA, BLAS/LAPACKE for the static library) carried by the imported target.
include(CMakePackageConfigHelpers)

set(KNNX_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/knnx)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/knnx
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/include/knnx/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/knnx)

# knnx_blas and knnx_lapacke are interface targets holding the system libraries' paths; the
# static libknnx's consumers link them, so they travel in the export set.
install(TARGETS knnx knnx_blas knnx_lapacke EXPORT knnxTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET knnx_cli)
  install(TARGETS knnx_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT knnxTargets NAMESPACE knnx:: DESTINATION ${KNNX_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/knnxConfig.cmake.in
  ${PROJECT_BINARY_DIR}/knnxConfig.cmake INSTALL_DESTINATION ${KNNX_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API, so 0.2 accepts 0.2.* only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/knnxConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/knnxConfig.cmake ${PROJECT_BINARY_DIR}/knnxConfigVersion.cmake
        DESTINATION ${KNNX_INSTALL_CMAKEDIR})
