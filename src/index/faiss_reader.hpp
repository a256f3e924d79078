// index/faiss_reader.hpp — indexes written by FAISS's write_index (format notes and checks in
// faiss_reader.cpp); knnx::read_faiss_index and read_index are built on it.
#pragma once

#include <memory>

#include "core/binary_file.hpp"
#include "knnx/device.hpp"
#include "knnx/index.hpp"

namespace knnx::detail {

// Whether the file starts like a FAISS index file (a four-character type code 'I...').
bool is_faiss_index_file(const InputFile& file);

// The index in a FAISS index file, on device. FormatError for a malformed file, NotSupported
// naming the FAISS type code of an index or transform knnx has no equivalent for.
std::unique_ptr<Index> read_faiss_index(const InputFile& file, Device device);

}  // namespace knnx::detail
