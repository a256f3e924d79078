// cli/suggest.hpp — "did you mean ...?" for a misspelt subcommand or option: the known name
// nearest in edit distance, when it is near enough to be what was meant.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace knnx::cli {

// Levenshtein distance (insertions, deletions, substitutions) between a and b.
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate nearest to word, or "" when none is within a third of word's length (at least
// 2 edits).
std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates);

// For arguments app did not expect: "did you mean 'search'?" / "did you mean '--n-probe'?"
// (subcommand names for words, option names of app for -/-- arguments), or "" without a guess.
std::string suggestion(const CLI::App& app, const std::vector<std::string>& unexpected);

}  // namespace knnx::cli
