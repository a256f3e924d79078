// index/transform_internal.hpp — helpers shared by the linear-algebra entry points and the
// transforms.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/transform.hpp"
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

// Of a chain of trained transforms (applied first first): the position of the first one that
// may map an input in [-1, 1]^d_in (after the transforms before it) to a vector of squared norm
// above kMaxSquaredNorm, or -1 when none can. Interval bounds in double; a loader refuses such
// a chain, since searching it with ordinary queries would overflow float32. The check stops at
// the first untrained transform (nothing after it can be applied yet).
int first_unbounded_transform(const std::vector<const VectorTransform*>& chain);

// rows x cols standard normal values from the seed (portable: the same on every machine).
std::vector<float> gaussian_block(idx_t rows, idx_t cols, std::uint64_t seed, std::uint64_t domain);

}  // namespace knnx::detail

namespace knnx::detail {

// out (n x d_out) = (x + shift_in) W + shift_out on `device` (W d_in x d_out row-major; shifts
// may be null).
void affine_map(Device device, idx_t n, idx_t d_in, idx_t d_out, const float* x,
                const float* shift_in, const float* w, const float* shift_out, float* out);

// gram (d x d) = sum_i (x_i + shift)(x_i + shift)^T on `device` (shift may be null).
void gram(Device device, idx_t n, idx_t d, const float* x, const float* shift, float* out);

// out (da x db) = a^T b for a (n x da) and b (n x db), on `device`.
void gram_ab(Device device, idx_t n, idx_t da, idx_t db, const float* a, const float* b,
             float* out);

}  // namespace knnx::detail
