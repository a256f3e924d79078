// knnx — command-line front end of the knnx library.
//
// Exit codes: 0 success, 2 usage error, 3 bad input (InvalidArgument, FormatError, IoError),
// 4 any other knnx error, 1 anything else. Errors go to stderr as "knnx: error: <message>".
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "knnx/version.hpp"

int main(int argc, char** argv) {
  using namespace knnx::cli;
  CLI::App app{"knnx: exact and approximate nearest-neighbour search on CPU and CUDA", "knnx"};
  app.set_version_flag("--version", knnx::kVersionString);
  app.require_subcommand(1);

  const std::vector<Command> commands = {add_build_command(app), add_search_command(app),
                                         add_info_command(app),
                                         add_bench_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);  // --help / --version
    }
    print_error(e.what());
    const CLI::App* failed = &app;
    for (const Command& c : commands) {
      if (c.app->parsed()) failed = c.app;
    }
    fmt::print(stderr, "Run '{} --help' for usage.\n",
               failed == &app ? std::string("knnx") : "knnx " + failed->get_name());
    return kExitUsage;
  }

  for (const Command& c : commands) {
    if (c.app->parsed()) return run_guarded(c.app->get_name(), c.run);
  }
  return kExitUsage;  // unreachable: require_subcommand(1) guarantees one was parsed
}
