// Exceptions thrown inside OpenMP parallel regions come out on the calling thread, typed.
#include <gtest/gtest.h>

#include <atomic>
#include <new>

#include "core/parallel_errors.hpp"
#include "knnx/error.hpp"
#include "knnx/types.hpp"

namespace knnx {
namespace {

TEST(ParallelErrors, BadAllocInsideARegionBecomesOutOfMemoryOnTheCaller) {
  detail::ParallelErrors errors;
#pragma omp parallel for num_threads(4)
  for (idx_t i = 0; i < 1000; ++i) {
    errors.run([&] {
      if (i == 517) throw std::bad_alloc();
    });
  }
  EXPECT_TRUE(errors.failed());
  try {
    errors.rethrow("test region");
    FAIL() << "no exception";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("test region"), std::string::npos) << e.what();
  }
}

TEST(ParallelErrors, KeepsTheTypeOfAKnnxErrorAndSkipsTheRest) {
  detail::ParallelErrors errors;
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(2) schedule(static, 1)
  for (idx_t i = 0; i < 100000; ++i) {
    errors.run([&] {
      ++ran;
      if (i == 0) throw InvalidArgument("row 0 is bad");
    });
  }
  EXPECT_THROW(errors.rethrow("test region"), InvalidArgument);
  EXPECT_LT(ran.load(), 100000);  // once a body failed, the others stop being run
}

TEST(ParallelErrors, NothingThrownNothingRethrown) {
  detail::ParallelErrors errors;
#pragma omp parallel for num_threads(3)
  for (idx_t i = 0; i < 10; ++i) errors.run([] {});
  EXPECT_FALSE(errors.failed());
  EXPECT_NO_THROW(errors.rethrow("test region"));
}

}  // namespace
}  // namespace knnx
