// fused_wgmma.hpp where the build holds no sm_90a machine code (CMakeLists.txt: a toolkit
// before CUDA 12, or KNNX_ENABLE_SM90A=OFF): no device runs the wgmma kernel.
#include "cuda/flat/fused_wgmma.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {

bool fused_wgmma_device(int) { return false; }

void launch_fused_wgmma_rows(const float*, const float*, std::int64_t, int, Metric,
                             const std::uint32_t*, const FusedWgmmaRows&, __half*, float2*, float*,
                             cudaStream_t, bool) {
  throw NotSupported("this build of knnx has no sm_90a kernels (wgmma)");
}

void launch_fused_candidates_wgmma(const __half*, const float2*, const float*,
                                   const FusedWgmmaRows&, std::int64_t, int, const float*, int,
                                   const float*, const float*, Metric, const std::uint32_t*, int,
                                   double, int, int*, std::uint32_t*, std::int32_t*, cudaStream_t,
                                   bool) {
  throw NotSupported("this build of knnx has no sm_90a kernels (wgmma)");
}

}  // namespace knnx::cuda
