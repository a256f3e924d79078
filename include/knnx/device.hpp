// knnx/device.hpp — where an index lives: the CPU or one CUDA device.
#pragma once

#include <string>
#include <string_view>

namespace knnx {

struct Device {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int ordinal = 0;  // CUDA device number; 0 for the CPU

  static Device cpu() { return {Kind::Cpu, 0}; }
  static Device cuda(int ordinal = 0) { return {Kind::Cuda, ordinal}; }
  // "cpu", "cuda", "cuda:N", "gpu", "gpu:N"; throws InvalidArgument otherwise.
  static Device parse(std::string_view spec);

  bool is_cpu() const { return kind == Kind::Cpu; }
  bool is_cuda() const { return kind == Kind::Cuda; }
  std::string to_string() const;
  friend bool operator==(const Device&, const Device&) = default;
};

// Whether this build of knnx contains the CUDA backend.
bool cuda_backend_compiled();

// Number of usable CUDA devices (0 without the CUDA backend, a driver, or a GPU). Never throws.
int cuda_device_count();

// Human-readable name of a CUDA device ("" when there is none).
std::string cuda_device_name(int ordinal);

}  // namespace knnx
