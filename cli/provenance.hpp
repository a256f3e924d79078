// cli/provenance.hpp — where and how a benchmark ran, for its result file: the host, its CPU and
// load, the command line and the source commit.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace knnx::cli {

// The 1, 5 and 15 minute load averages of /proc/loadavg (empty where unreadable).
std::vector<double> loadavg();
// "model name" of /proc/cpuinfo, or "unknown".
std::string cpu_model();
// Which of avx, avx2, avx512bw, avx512f, avx512vl and fma the CPU has.
std::vector<std::string> cpu_flags();
std::string host_name();
// The command line as this process was started (from /proc/self/cmdline), quoted for a shell.
std::string command_line();

struct SourceCommit {
  std::optional<std::string> commit;  // none: unknown
  std::optional<bool> dirty;          // none: unknown (or the commit was given)
};
// KNNX_COMMIT when set (a tree copied without its .git state), else git's HEAD and whether the
// sources differ from it.
SourceCommit source_commit();

}  // namespace knnx::cli
