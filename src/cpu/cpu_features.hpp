// cpu/cpu_features.hpp — the run-time instruction-set check behind the SIMD kernels' dispatch
// (the library is compiled for the baseline instruction set, so each kernel picks its AVX2
// version only where the CPU has it).
#pragma once

namespace knnx::cpu {

#if defined(__x86_64__) || defined(__i386__)
// Whether this CPU runs AVX2 (asked once).
inline bool cpu_has_avx2() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return yes;
}
#endif

}  // namespace knnx::cpu
