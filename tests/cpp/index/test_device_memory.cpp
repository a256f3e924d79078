// knnx/device_memory.hpp: device memory for callers outside the library. Without a CUDA device
// only the refusals are checked; with one, memory is allocated, written, synchronised and read
// back.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "knnx/device_memory.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"

namespace knnx {
namespace {

TEST(DeviceMemory, HostMemoryIsNoDevice) {
  std::vector<float> host(4);
  EXPECT_EQ(pointer_device(host.data()), -1);
  EXPECT_EQ(pointer_device(nullptr), -1);
}

TEST(DeviceMemory, NeedsAnExistingCudaDevice) {
  EXPECT_THROW(allocate_device_memory(Device::cpu(), 16), InvalidArgument);
  float x = 0;
  EXPECT_THROW(copy_device_to_host(&x, &x, sizeof x, Device::cpu()), InvalidArgument);
  EXPECT_THROW(synchronize_stream(Device::cpu(), 1), InvalidArgument);
  const Device absent = Device::cuda(cuda_device_count());
  if (cuda_backend_compiled()) {
    EXPECT_THROW(allocate_device_memory(absent, 16), InvalidArgument);
  } else {
    EXPECT_THROW(allocate_device_memory(absent, 16), NotSupported);
    EXPECT_THROW(synchronize_stream(absent, 1), NotSupported);
  }
}

TEST(DeviceMemory, AllocatedMemoryHoldsSearchResults) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const Device gpu = Device::cuda(0);
  const std::vector<float> base = {0, 0, 1, 1, 5, 5};
  IndexFlat index(2, Metric::L2, gpu);
  index.add(3, base.data());
  const std::shared_ptr<void> d = allocate_device_memory(gpu, 2 * sizeof(float));
  const std::shared_ptr<void> l = allocate_device_memory(gpu, 2 * sizeof(idx_t));
  EXPECT_EQ(pointer_device(d.get()), 0);
  const float query[2] = {0.9f, 1.1f};
  index.search(1, query, 2, static_cast<float*>(d.get()), static_cast<idx_t*>(l.get()));
  synchronize_stream(gpu, 1);
  std::vector<idx_t> labels(2);
  copy_device_to_host(labels.data(), l.get(), 2 * sizeof(idx_t), gpu);
  EXPECT_EQ(labels, (std::vector<idx_t>{1, 0}));
}

}  // namespace
}  // namespace knnx
