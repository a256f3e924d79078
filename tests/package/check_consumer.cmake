# Installs the build into a temporary prefix, then configures, builds and runs
# examples/cmake_consumer against it through find_package(knnx 0.2 REQUIRED), together with the
# C++ quick start of README.md extracted exactly as written (the first ```cpp block).
# Variables: BUILD_DIR (the knnx build), SOURCE_DIR (the repository), WORK_DIR (scratch),
# GENERATOR, CXX_COMPILER.
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_consumer.cmake: ${var} is not set")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc})\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok\n${out}")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run_step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/knnx/knnx.hpp include/knnx/version.hpp lib/cmake/knnx/knnxConfig.cmake
          lib/cmake/knnx/knnxConfigVersion.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the install has no ${f}")
  endif()
endforeach()

# The README's quick start, verbatim.
file(READ ${SOURCE_DIR}/README.md readme)
string(FIND "${readme}" "## C++ quick start" section)
if(section EQUAL -1)
  message(FATAL_ERROR "README.md has no '## C++ quick start' section")
endif()
string(SUBSTRING "${readme}" ${section} -1 readme)
string(FIND "${readme}" "```cpp\n" begin)
string(FIND "${readme}" "\n```\n" end)
if(begin EQUAL -1 OR end LESS begin)
  message(FATAL_ERROR "no ```cpp block in README.md's C++ quick start")
endif()
math(EXPR begin "${begin} + 7")
math(EXPR length "${end} - ${begin} + 1")
string(SUBSTRING "${readme}" ${begin} ${length} quickstart)
file(WRITE ${WORK_DIR}/readme_quickstart.cpp "${quickstart}")

set(consumer ${WORK_DIR}/consumer)
run_step("configure examples/cmake_consumer"
  ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/cmake_consumer -B ${consumer} -G ${GENERATOR}
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  -DCMAKE_PREFIX_PATH=${prefix} -DKNNX_README_QUICKSTART=${WORK_DIR}/readme_quickstart.cpp)
run_step("build examples/cmake_consumer" ${CMAKE_COMMAND} --build ${consumer})
run_step("run consumer" ${consumer}/consumer)
run_step("run the README quick start" ${consumer}/readme_quickstart)
