// index/transform_internal.hpp — helpers shared by the linear-algebra entry points and the
// transforms.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// Random-stream domains (derive_seed) of the linear-algebra code.
inline constexpr std::uint64_t kSvdSeedDomain = 0x5356445f73746172ull;       // "SVD_star"
inline constexpr std::uint64_t kRotationSeedDomain = 0x524f545f73656564ull;  // "ROT_seed"
inline constexpr std::uint64_t kOpqSeedDomain = 0x4f50515f73656564ull;       // "OPQ_seed"

// InvalidArgument unless `device` is the CPU or an existing CUDA device; NotSupported for a CUDA
// device in a build without CUDA.
void require_linalg_device(Device device);

// rows x cols >= 1 each and addressable by 32-bit BLAS / LAPACK indices.
void check_lapack_size(idx_t rows, idx_t cols, const char* name);

// rows x cols standard normal values from the seed (portable: the same on every machine).
std::vector<float> gaussian_block(idx_t rows, idx_t cols, std::uint64_t seed, std::uint64_t domain);

}  // namespace knnx::detail
