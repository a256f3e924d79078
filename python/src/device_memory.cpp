// device_memory.cpp — CUDA memory helpers for the Python layer (see device_memory.hpp).
#include "device_memory.hpp"

#include <fmt/format.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "knnx/device_memory.hpp"
#include "knnx/error.hpp"

namespace knnx::python {
namespace {

// Element types the helpers allocate and copy: float32 vectors and distances, int64 labels/ids.
struct ElementType {
  nb::dlpack::dtype dtype;
  std::size_t size;
};

ElementType element_type(const std::string& name) {
  if (name == "float32") return {nb::dtype<float>(), sizeof(float)};
  if (name == "int64") return {nb::dtype<std::int64_t>(), sizeof(std::int64_t)};
  throw InvalidArgument(fmt::format("dtype must be \"float32\" or \"int64\", got \"{}\"", name));
}

std::size_t element_count(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t s : shape) n *= s;
  return n;
}

// "float32", "int64", "uint8", "bfloat16", "complex64", "bool": numpy-style names for messages.
std::string dtype_name(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  const char* kind = "unknown";
  switch (static_cast<Code>(t.code)) {
    case Code::Int:
      kind = "int";
      break;
    case Code::UInt:
      kind = "uint";
      break;
    case Code::Float:
      kind = "float";
      break;
    case Code::Bfloat:
      kind = "bfloat";
      break;
    case Code::Complex:
      kind = "complex";
      break;
    case Code::Bool:
      return "bool";
    default:
      break;
  }
  std::string name = fmt::format("{}{}", kind, t.bits);
  if (t.lanes != 1) name += fmt::format("x{}", t.lanes);
  return name;
}

// An uninitialised device array of `shape` on device `ordinal`, freed when the returned Python
// object (which exposes __dlpack__ and __dlpack_device__) is collected. Returns (array, address).
nb::tuple device_empty(const std::vector<std::size_t>& shape, const std::string& dtype,
                       int ordinal) {
  const ElementType type = element_type(dtype);
  const std::size_t bytes = std::max<std::size_t>(element_count(shape) * type.size, 1);
  // The capsule owns a reference to the memory, which is freed when the array is collected.
  auto* memory = new std::shared_ptr<void>(allocate_device_memory(Device::cuda(ordinal), bytes));
  void* data = memory->get();
  nb::capsule owner(memory,
                    [](void* p) noexcept { delete static_cast<std::shared_ptr<void>*>(p); });
  // array_api: an object with __dlpack__ / __dlpack_device__ (a bare capsule otherwise).
  nb::ndarray<nb::array_api> array(data, shape.size(), shape.data(), owner, nullptr, type.dtype,
                                   nb::device::cuda::value, ordinal);
  return nb::make_tuple(nb::cast(array), reinterpret_cast<std::uintptr_t>(data));
}

// A host (numpy) copy of the C-contiguous device array at `address`.
nb::ndarray<nb::numpy> copy_to_host(std::uintptr_t address, const std::vector<std::size_t>& shape,
                                    const std::string& dtype, int ordinal) {
  const ElementType type = element_type(dtype);
  const Device device = Device::cuda(ordinal);
  if (pointer_device(address) != ordinal) {
    throw InvalidArgument(fmt::format("address {:#x} is not memory of cuda:{}", address, ordinal));
  }
  const std::size_t bytes = element_count(shape) * type.size;
  auto host = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(bytes, 1));
  {
    nb::gil_scoped_release release;
    copy_device_to_host(host.get(), reinterpret_cast<const void*>(address), bytes, device);
  }
  std::uint8_t* raw = host.release();
  nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<std::uint8_t*>(p); });
  return nb::ndarray<nb::numpy>(raw, shape.size(), shape.data(), owner, nullptr, type.dtype);
}

// Waits on the host until the work queued on `stream` of device `ordinal` is done (stream
// handles as knnx::synchronize_stream takes them).
void synchronize(int ordinal, std::uintptr_t stream) {
  nb::gil_scoped_release release;
  synchronize_stream(Device::cuda(ordinal), stream);
}

// What the DLPack export of `obj` describes, without copying: a tuple (keepalive, address,
// shape, strides in elements, dtype name, DLPack device type, device id), or None when obj
// exports no DLPack tensor. `keepalive` holds the imported tensor: the address stays valid
// while it lives. The producer was asked for no particular stream, so by the DLPack contract
// its data is ordered before work on the legacy default stream of that device.
nb::object dlpack_view(nb::handle obj) {
  nb::ndarray<nb::ro> view;
  if (!nb::try_cast(obj, view, /*convert=*/false)) return nb::none();
  nb::list shape;
  nb::list strides;
  for (std::size_t i = 0; i < view.ndim(); ++i) {
    shape.append(view.shape(i));
    strides.append(view.stride(i));
  }
  auto* held = new nb::ndarray<nb::ro>(view);
  nb::capsule keepalive(held,
                        [](void* p) noexcept { delete static_cast<nb::ndarray<nb::ro>*>(p); });
  return nb::make_tuple(keepalive, reinterpret_cast<std::uintptr_t>(view.data()), nb::tuple(shape),
                        nb::tuple(strides), dtype_name(view.dtype()), view.device_type(),
                        view.device_id());
}

}  // namespace

int pointer_device(std::uintptr_t address) {
  return knnx::pointer_device(reinterpret_cast<const void*>(address));
}

void bind_device_memory(nb::module_& m) {
  m.def("_pointer_device", &pointer_device, nb::arg("address"),
        "The CUDA ordinal whose memory `address` points into, or -1 for host memory.");
  m.def("_synchronize_stream", &synchronize, nb::arg("device"), nb::arg("stream"),
        "Waits until the work queued on `stream` of CUDA device `device` is done (1: legacy\n"
        "default stream, 2: per-thread default stream, otherwise a cudaStream_t).");
  m.def("_device_empty", &device_empty, nb::arg("shape"), nb::arg("dtype"), nb::arg("device"),
        "An uninitialised float32 or int64 array on CUDA device `device`, owned by the returned\n"
        "DLPack-capable object: returns (array, address).");
  m.def("_copy_to_host", &copy_to_host, nb::arg("address"), nb::arg("shape"), nb::arg("dtype"),
        nb::arg("device"),
        "A numpy copy of the C-contiguous float32 or int64 device array at `address`.");
  m.def("_dlpack_view", &dlpack_view, nb::arg("obj"),
        "(keepalive, address, shape, strides, dtype, device_type, device_id) of obj's DLPack\n"
        "export, or None when obj exports none.");
}

}  // namespace knnx::python
