// knnx info: version, compiled backends, CUDA devices, OpenMP threads and every config knob.
// `--knobs-markdown` prints docs/knobs.md, which a test compares with the file in the tree.
#include <fmt/format.h>
#include <omp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/version.hpp"

namespace knnx::cli {
namespace {

struct InfoOptions {
  bool json = false;
  bool knobs_markdown = false;
};

// '|' would end a markdown table cell early.
std::string escape_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string knobs_markdown() {
  std::string out =
      "# Configuration knobs\n"
      "\n"
      "knnx reads its tuning knobs from `KNNX_*` environment variables once, at first use (the\n"
      "first call that needs the configuration), into one process-wide configuration. Changing\n"
      "the environment afterwards has no effect until `knnx::reload_config_from_env()` is called;\n"
      "`knnx::set_config()` replaces the values from code at any time and checks them against the\n"
      "same ranges. An out-of-range or unparsable value raises `knnx::InvalidArgument` naming the\n"
      "variable. Hot code receives these values as parameters and never reads the environment.\n"
      "\n"
      "`knnx info` prints the values in force. This page is the output of\n"
      "`knnx info --knobs-markdown`; a test fails when it differs from what the build prints.\n"
      "\n"
      "| name | default | range | description |\n"
      "|---|---|---|---|\n";
  for (const KnobInfo& k : describe_knobs()) {
    out += fmt::format("| `{}` | {} | {} | {} |\n", k.env_name, escape_cell(k.default_value),
                       escape_cell(k.range), escape_cell(k.description));
  }
  return out;
}

struct DeviceEntry {
  int ordinal;
  std::string name;
};

std::vector<DeviceEntry> cuda_devices() {
  std::vector<DeviceEntry> out;
  const int count = cuda_device_count();
  for (int i = 0; i < count; ++i) out.push_back({i, cuda_device_name(i)});
  return out;
}

void print_json(const std::vector<DeviceEntry>& devices, const std::vector<KnobInfo>& knobs) {
  nlohmann::ordered_json j;
  j["version"] = kVersionString;
  j["backends"] = {{"cpu", true}, {"cuda", cuda_backend_compiled()}};
  nlohmann::ordered_json devs = nlohmann::ordered_json::array();
  for (const DeviceEntry& d : devices) devs.push_back({{"ordinal", d.ordinal}, {"name", d.name}});
  j["cuda_devices"] = devs;
  j["openmp"] = {{"max_threads", omp_get_max_threads()}, {"num_procs", omp_get_num_procs()}};
  nlohmann::ordered_json ks = nlohmann::ordered_json::array();
  for (const KnobInfo& k : knobs) {
    ks.push_back({{"name", k.env_name},
                  {"value", k.value},
                  {"default", k.default_value},
                  {"range", k.range},
                  {"description", k.description}});
  }
  j["knobs"] = ks;
  fmt::print("{}\n", j.dump(2));
}

void print_text(const std::vector<DeviceEntry>& devices, const std::vector<KnobInfo>& knobs) {
  fmt::print("knnx {}\n\n", kVersionString);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"backends", cuda_backend_compiled() ? "cpu, cuda" : "cpu (built without CUDA)"});
  if (!cuda_backend_compiled()) {
    rows.push_back({"cuda devices", "-"});
  } else if (devices.empty()) {
    rows.push_back({"cuda devices", "none found"});
  } else {
    for (const DeviceEntry& d : devices) {
      rows.push_back({d.ordinal == 0 ? "cuda devices" : "", fmt::format("cuda:{}  {}", d.ordinal, d.name)});
    }
  }
  rows.push_back({"openmp threads", fmt::format("{} (of {} processors)", omp_get_max_threads(),
                                                omp_get_num_procs())});
  fmt::print("{}\n", render_table(rows));

  std::vector<std::vector<std::string>> knob_rows = {{"knob", "value", "default", "range"}};
  for (const KnobInfo& k : knobs) {
    knob_rows.push_back({k.env_name, k.value, k.default_value, k.range});
  }
  fmt::print("{}", render_table(knob_rows));
  fmt::print("\nDescriptions: docs/knobs.md or `knnx info --knobs-markdown`.\n");
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* app = parent.add_subcommand(
      "info", "Show the version, backends, CUDA devices, OpenMP threads and config knobs");
  app->add_flag("--json", options->json, "Print one JSON object instead of text");
  app->add_flag("--knobs-markdown", options->knobs_markdown,
                "Print the knob reference page (docs/knobs.md) as markdown")
      ->excludes("--json");
  return {app, [options] {
            if (options->knobs_markdown) {
              fmt::print("{}", knobs_markdown());
              return;
            }
            const std::vector<KnobInfo> knobs = describe_knobs();
            const std::vector<DeviceEntry> devices = cuda_devices();
            if (options->json) {
              print_json(devices, knobs);
            } else {
              print_text(devices, knobs);
            }
          }};
}

}  // namespace knnx::cli
