// core/npy_file.hpp — .npy readers that read_vectors / read_labels share with npy_file.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/vector_file_util.hpp"

#include "knnx/vector_io.hpp"

namespace knnx::detail::npy {

// Up to max_rows rows (all when negative) of an .npy file, converted as read_npy_as_float /
// read_npy_as_int64 convert; 1-D arrays become n x 1.
Matrix<float> read_rows_as_float(const std::string& path, idx_t max_rows);
Matrix<std::int64_t> read_rows_as_int64(const std::string& path, idx_t max_rows);
// The file's rows, read on request as float32 (converted as above).
std::unique_ptr<vector_file::RowSource> open_rows(const std::string& path);

}  // namespace knnx::detail::npy
