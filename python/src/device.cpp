// device.cpp — what the CUDA side of this build can do, and what the build contains.
#include "knnx/device.hpp"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "knnx/build_info.hpp"

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
      "build_info",
      [] {
        const BuildInfo info = build_info();
        nb::dict d;
        d["version"] = info.version;
        d["cuda_compiled"] = info.cuda_compiled;
        d["cuda_devices"] = info.cuda_devices;
        d["blas"] = info.blas;
        d["cpu_threads"] = info.cpu_threads;
        d["cpu_processors"] = info.cpu_processors;
        return d;
      },
      "What this build contains and finds on this machine, as a dict: version, cuda_compiled, "
      "cuda_devices (names of the usable GPUs), blas, cpu_threads (threads a CPU search uses), "
      "cpu_processors. knnx.show_config() prints it.");
  m.def(
      "_device", [](const std::string& device) { return Device::parse(device).to_string(); },
      nb::arg("device"),
      "The canonical spelling of a device argument (\"cpu\", \"cuda:N\"); ValueError for others.");
}

}  // namespace knnx::python
