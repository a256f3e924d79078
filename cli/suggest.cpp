#include "suggest.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace knnx::cli {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

namespace {

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options()) {
    for (const std::string& l : opt->get_lnames()) names.push_back("--" + l);
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

}  // namespace

std::string suggestion(const CLI::App& app, const std::vector<std::string>& unexpected) {
  for (const std::string& arg : unexpected) {
    if (arg.rfind("--", 0) == 0) {
      const std::string name = arg.substr(0, arg.find('='));  // --opt=value
      const std::string near = nearest_name(name, option_names(app));
      if (!near.empty()) return fmt::format("did you mean '{}'?", near);
    } else if (!arg.empty() && arg[0] != '-') {
      const std::string near = nearest_name(arg, subcommand_names(app));
      if (!near.empty()) return fmt::format("did you mean '{}'?", near);
    }
  }
  return {};
}

}  // namespace knnx::cli
