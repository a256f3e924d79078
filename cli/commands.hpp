// cli/commands.hpp — the knnx subcommands. Each add_*_command registers its options on the
// parent app and returns the function that runs it once the command line has been parsed.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace knnx::cli {

struct Command {
  CLI::App* app = nullptr;     // the subcommand's parser
  std::function<void()> run;   // throws on failure; see run_guarded for the exit codes
};

Command add_bench_command(CLI::App& parent);
Command add_build_command(CLI::App& parent);
Command add_info_command(CLI::App& parent);
Command add_search_command(CLI::App& parent);

}  // namespace knnx::cli
