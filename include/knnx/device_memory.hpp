// knnx/device_memory.hpp — CUDA device memory for code that hands arrays to and from knnx (the
// Python bindings: PyTorch/CuPy tensors read in place, device results returned as DLPack).
//
// Every function is callable in a build without the CUDA backend: there every pointer is host
// memory, and the functions that need a device throw NotSupported. A device that does not
// exist is InvalidArgument; a failed allocation OutOfMemory; any other CUDA failure CudaError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "knnx/device.hpp"

namespace knnx {

// The CUDA ordinal whose memory p points into (device or managed memory), or -1 for host memory
// (pageable, pinned, or anything CUDA does not know). Never throws.
int pointer_device(const void* p);

// Uninitialised memory of `bytes` on the CUDA device `device`, usable on any stream once
// returned, freed when the last copy of the returned pointer is destroyed (on any thread).
std::shared_ptr<void> allocate_device_memory(Device device, std::size_t bytes);

// Copies `bytes` of memory of the CUDA device `device` at src into host memory dst; returns
// when the copy is complete.
void copy_device_to_host(void* dst, const void* src, std::size_t bytes, Device device);
// Copies `bytes` of host memory src into memory of the CUDA device `device` at dst; returns
// when the copy is complete.
void copy_host_to_device(void* dst, const void* src, std::size_t bytes, Device device);

// Waits on the host until the work queued on `stream` of the CUDA device `device` is done.
// stream is a handle as __cuda_array_interface__ (v3) and DLPack give it: 0 or 1 the legacy
// default stream, 2 the per-thread default stream, anything else a cudaStream_t.
void synchronize_stream(Device device, std::uintptr_t stream);

}  // namespace knnx
