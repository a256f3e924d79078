#include "provenance.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

namespace knnx::cli {
namespace {

// Output of a shell command (trailing newline removed), or nullopt when it fails.
std::optional<std::string> shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
  if (pclose(p) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

std::vector<double> loadavg() {
  std::ifstream f("/proc/loadavg");
  std::vector<double> out(3, 0.0);
  if (!(f >> out[0] >> out[1] >> out[2])) return {};
  return out;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown";
}

std::vector<std::string> cpu_flags() {
  static const std::array<const char*, 6> wanted = {"avx",     "avx2",     "avx512bw",
                                                    "avx512f", "avx512vl", "fma"};
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  std::vector<std::string> out;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    const std::vector<std::string> flags{std::istream_iterator<std::string>(words), {}};
    for (const char* w : wanted) {
      if (std::find(flags.begin(), flags.end(), w) != flags.end()) out.emplace_back(w);
    }
    break;
  }
  return out;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

std::string command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string out;
  std::size_t start = 0;
  while (start < raw.size()) {
    std::size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    std::string arg = raw.substr(start, end - start);
    if (arg.find_first_of(" \t'\"") != std::string::npos || arg.empty()) arg = "'" + arg + "'";
    out += (out.empty() ? "" : " ") + arg;
    start = end + 1;
  }
  return out.empty() ? "knnx bench" : out;
}

SourceCommit source_commit() {
  const char* given = std::getenv("KNNX_COMMIT");
  if (given != nullptr && *given != '\0') return {std::string(given), std::nullopt};
  SourceCommit out;
  out.commit = shell("git rev-parse HEAD 2>/dev/null");
  const auto status = shell(
      "git status --porcelain -- src include python bench cli CMakeLists.txt cmake 2>/dev/null");
  if (status) out.dirty = !status->empty();
  return out;
}

}  // namespace knnx::cli
