// BLAS threads under an address-space cap: the count is lowered so that the threads' OpenBLAS
// buffers fit (a thread whose buffer could not be mapped waited in OpenBLAS forever).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu/blas.hpp"

namespace knnx::cpu {
namespace {

TEST(BlasLimits, NoCapKeepsTheRequestedThreads) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_AS, &limit), 0);
  if (limit.rlim_cur != RLIM_INFINITY) GTEST_SKIP() << "the test runs under an address-space cap";
  EXPECT_EQ(blas_threads_within_limits(64), 64);
  EXPECT_EQ(blas_threads_within_limits(1), 1);
}

TEST(BlasLimits, ACapLowersTheThreadsToWhatFits) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The cap: what the process maps now plus 1 GiB, so about 8 threads' buffers fit in half.
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (f == nullptr || std::fscanf(f, "%llu", &pages) != 1) ::_exit(3);
    std::fclose(f);
    const rlim_t used = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
    const rlimit cap{used + (rlim_t{1} << 30), used + (rlim_t{1} << 30)};
    if (::setrlimit(RLIMIT_AS, &cap) != 0) ::_exit(3);
    const int threads = blas_threads_within_limits(4096);
    ::_exit(threads >= 1 && threads <= 16 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace knnx::cpu
