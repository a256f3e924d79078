// device.cpp — what the CUDA side of this build can do.
#include "knnx/device.hpp"

#include <nanobind/stl/string.h>

#include "bindings.hpp"

namespace knnx::python {

void bind_device(nb::module_& m) {
  m.def("cuda_backend_compiled", &cuda_backend_compiled,
        "Whether this build of knnx contains the CUDA backend.");
  m.def("cuda_device_count", &cuda_device_count,
        "Number of usable CUDA devices: 0 without the CUDA backend, a driver or a GPU. "
        "Never raises.");
  m.def("cuda_device_name", &cuda_device_name, nb::arg("ordinal") = 0,
        "Name of CUDA device `ordinal` (\"\" when there is no such device).");
  m.def(
      "_device", [](const std::string& device) { return Device::parse(device).to_string(); },
      nb::arg("device"),
      "The canonical spelling of a device argument (\"cpu\", \"cuda:N\"); ValueError for others.");
}

}  // namespace knnx::python
