// device_memory.hpp — CUDA memory as the Python bindings see it: where a raw pointer lives,
// stream synchronisation, device arrays owned by Python objects, DLPack views.
//
// The index bindings take device pointers from the Python layer (python/knnx/_gpu_arrays.py),
// which reads them from PyTorch tensors, CuPy arrays, __cuda_array_interface__ objects or
// DLPack capsules. Everything here is safe to call in a build without the CUDA backend: there
// every pointer is host memory and allocating device memory raises NotSupported.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdint>

namespace knnx::python {

namespace nb = nanobind;

// The CUDA ordinal whose memory `address` points into, or -1 for host memory (pageable,
// pinned, or anything the CUDA runtime does not know). Managed memory counts as device memory.
int pointer_device(std::uintptr_t address);

// Registers the module-level helpers (_pointer_device, _synchronize_stream, _device_empty,
// _copy_to_host, _dlpack_view) on the extension module.
void bind_device_memory(nb::module_& m);

}  // namespace knnx::python
