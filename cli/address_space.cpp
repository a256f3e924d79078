// Runs before any shared library starts (an ELF preinit function of the executable): under an
// address-space cap (RLIMIT_AS, `ulimit -v`), OpenBLAS maps a 128 MiB work buffer for each
// OpenMP thread while it is loaded, and retries forever or exits when the cap leaves no room,
// before main() could report anything. Here, still before it loads, the OpenMP thread count is
// lowered to what the cap affords (the program runs again with OMP_NUM_THREADS set; a larger
// value the user set would hang the process), and a cap that leaves no room for even one thread
// is reported as an error (exit code 4) instead of a hang.
// The budget per thread is the library's (src/cpu/blas.cpp: a work buffer, a stack and margin;
// half of what is left is kept for the data).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr std::uint64_t kBytesPerBlasThread = std::uint64_t{160} << 20;
constexpr int kExitKnnxError = 4;  // as cli/common.hpp's kExitKnnx (main has not started)

std::uint64_t mapped_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long pages = 0;
  const int got = std::fscanf(f, "%llu", &pages);
  std::fclose(f);
  return got == 1 ? pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

void fit_threads_to_address_space(int, char** argv, char** envp) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  const std::uint64_t cap = limit.rlim_cur;
  const std::uint64_t used = mapped_bytes();
  const std::uint64_t left = cap > used ? cap - used : 0;
  if (left < kBytesPerBlasThread) {
    std::fprintf(stderr,
                 "knnx: error: the address-space limit (RLIMIT_AS, ulimit -v) of %llu MiB leaves "
                 "%llu MiB, less than the %llu MiB the BLAS library maps for its first thread "
                 "when it starts: raise the limit\n",
                 static_cast<unsigned long long>(cap >> 20),
                 static_cast<unsigned long long>(left >> 20),
                 static_cast<unsigned long long>(kBytesPerBlasThread >> 20));
    std::_Exit(kExitKnnxError);
  }
  // Every OpenMP thread maps a stack, and OpenBLAS a buffer for each of up to one per CPU: each
  // thread is budgeted in full. The environment comes from envp: getenv() is not ready before
  // the C library has started.
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 0) return;
  std::uint64_t wanted = static_cast<std::uint64_t>(cpus);
  int n = 0, omp_entry = -1;
  for (; envp[n] != nullptr; ++n) {
    if (std::strncmp(envp[n], "OMP_NUM_THREADS=", 16) != 0) continue;
    omp_entry = n;
    const unsigned long long set = std::strtoull(envp[n] + 16, nullptr, 10);
    if (set >= 1) wanted = set;
  }
  const std::uint64_t affordable = std::max<std::uint64_t>(1, left / 2 / kBytesPerBlasThread);
  if (affordable >= wanted) return;
  // The C library's own start-up resets the environment after this function, so setenv()
  // would not reach the OpenMP runtime: run the program again with the variable set (it then
  // asks for `affordable` threads, and this function returns above).
  char threads[40];
  std::snprintf(threads, sizeof threads, "OMP_NUM_THREADS=%llu",
                static_cast<unsigned long long>(affordable));
  char** env = static_cast<char**>(std::calloc(static_cast<std::size_t>(n) + 2, sizeof(char*)));
  if (env == nullptr) return;
  for (int i = 0; i < n; ++i) env[i] = envp[i];
  env[omp_entry >= 0 ? omp_entry : n] = threads;
  ::execve("/proc/self/exe", argv, env);
  std::free(env);  // exec failed: go on with the thread count asked for
}

}  // namespace

// Executables' preinit functions run before the initialisers of every shared library.
__attribute__((section(".preinit_array"),
               used)) void (*const knnx_fit_threads_preinit)(int, char**,
                                                             char**) = fit_threads_to_address_space;
