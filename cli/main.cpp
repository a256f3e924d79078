// knnx — command-line front end of the knnx library.
//
// Exit codes: 0 success, 2 usage error, 3 bad input (InvalidArgument, FormatError, IoError),
// 4 any other knnx error, 1 anything else. Errors go to stderr as "knnx: error: <message>".
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "knnx/version.hpp"
#include "suggest.hpp"

int main(int argc, char** argv) {
  using namespace knnx::cli;
  CLI::App app{"knnx: exact and approximate nearest-neighbour search on CPU and CUDA", "knnx"};
  app.set_version_flag("--version", knnx::kVersionString);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success, 1 anything else, 2 usage error (bad command line), 3 bad input\n"
      "(invalid argument, malformed or unreadable file), 4 any other knnx error (e.g. --device\n"
      "cuda where there is no CUDA backend or GPU). Errors go to stderr as\n"
      "\"knnx: error: <message>\".\n"
      "Run 'knnx <command> --help' for a command's options.\n");

  const std::vector<Command> commands = {add_build_command(app), add_search_command(app),
                                         add_info_command(app),
                                         add_bench_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      // --help / --version: printed like any output, so a failed write is an error too.
      return run_guarded("", [&] { app.exit(e); });
    }
    const CLI::App* failed = &app;
    for (const Command& c : commands) {
      if (c.app->parsed()) failed = c.app;
    }
    // A misspelt subcommand is an extra positional of the top level, a misspelt option an
    // extra of the command it follows.
    std::vector<std::string> unexpected = failed->remaining();
    if (failed == &app && unexpected.empty()) {
      for (int i = 1; i < argc; ++i) unexpected.emplace_back(argv[i]);
    }
    const std::string hint = suggestion(*failed, unexpected);
    std::string message = e.what();
    if (failed == &app && argc > 1 && argv[1][0] != '-') {
      message = fmt::format("unknown command '{}' (commands: build, search, info, bench)", argv[1]);
    }
    print_error(hint.empty() ? message : fmt::format("{}; {}", message, hint));
    fmt::print(stderr, "Run '{} --help' for usage.\n",
               failed == &app ? std::string("knnx") : "knnx " + failed->get_name());
    return kExitUsage;
  }

  for (const Command& c : commands) {
    if (c.app->parsed()) return run_guarded(c.app->get_name(), c.run);
  }
  return kExitUsage;  // unreachable: require_subcommand(1) guarantees one was parsed
}
