// knnx/build_info.hpp — what this build of knnx contains and what it finds on this machine:
// version, CUDA backend and visible GPUs, the BLAS it calls and the CPU threads a search uses.
// `knnx info` and knnx.show_config() print it.
#pragma once

#include <string>
#include <vector>

namespace knnx {

struct BuildInfo {
  std::string version;                    // "0.2.0"
  bool cuda_compiled = false;             // the CUDA backend is part of this build
  std::vector<std::string> cuda_devices;  // names of the usable GPUs, by ordinal
  std::string blas;                       // the BLAS library and, for OpenBLAS, its build config
  int cpu_threads = 0;                    // threads a CPU search uses (KNNX_NUM_THREADS or OpenMP)
  int cpu_processors = 0;                 // processors OpenMP sees
};

// Never throws for a missing GPU or driver (cuda_devices is then empty).
BuildInfo build_info();

}  // namespace knnx
