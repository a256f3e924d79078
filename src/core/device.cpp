#include "knnx/device.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string>

#include "check.hpp"
#include "knnx/error.hpp"

namespace knnx {

Device Device::parse(std::string_view spec) {
  if (spec == "cpu") return cpu();
  for (std::string_view prefix : {"cuda", "gpu"}) {
    if (spec.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = spec.substr(prefix.size());
    if (rest.empty()) return cuda(0);
    if (rest[0] == ':' && rest.size() > 1) {
      int ordinal = -1;
      auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), ordinal);
      if (ec == std::errc() && end == rest.data() + rest.size() && ordinal >= 0) {
        return cuda(ordinal);
      }
    }
  }
  throw InvalidArgument(
      fmt::format("device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"{}\"", spec));
}

std::string Device::to_string() const {
  return is_cpu() ? std::string("cpu") : fmt::format("cuda:{}", ordinal);
}

namespace detail {

NotSupported no_cuda_backend_error(Device device) {
  return NotSupported(fmt::format(
      "device {} requested, but this build of knnx has no CUDA backend: use device cpu, or "
      "rebuild knnx where nvcc is found (CMake -DKNNX_ENABLE_CUDA=ON, the default)",
      device.to_string()));
}

void require_cuda_device_exists(Device device, int count) {
  require(
      device.ordinal >= 0 &&
              device.ordinal<
                  count, "device {} does not exist ({} CUDA device(s) visible): use device cpu{}",
                  device.to_string(), count, count> 0
          ? fmt::format(" or cuda:0..cuda:{}", count - 1)
          : std::string(", or check the GPU driver and CUDA_VISIBLE_DEVICES"));
}

}  // namespace detail
}  // namespace knnx
