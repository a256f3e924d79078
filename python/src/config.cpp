// config.cpp — the KNNX_* knobs as a dict: config(), set_config(**knobs), describe_knobs().
//
// A knob's Python name is its environment variable without the KNNX_ prefix, in lower case
// (KNNX_NUM_THREADS -> num_threads). set_config() checks every name and value before applying
// any, so a rejected call changes nothing.
#include "knnx/config.hpp"

#include <Python.h>
#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <cctype>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "bindings.hpp"
#include "knnx/error.hpp"

namespace knnx::python {
namespace {

struct KnobField {
  const char* name;
  const char* env_name;
  std::variant<int Config::*, bool Config::*, std::string Config::*> field;
};

// Must list every field of knnx::Config; tests/python/test_config.py checks it against
// describe_knobs() so a knob added in C++ cannot be missing here unnoticed.
constexpr KnobField kKnobFields[] = {
    {"num_threads", "KNNX_NUM_THREADS", &Config::num_threads},
    {"cpu_query_block", "KNNX_CPU_QUERY_BLOCK", &Config::cpu_query_block},
    {"cpu_base_block", "KNNX_CPU_BASE_BLOCK", &Config::cpu_base_block},
    {"cpu_direct_max_nq", "KNNX_CPU_DIRECT_MAX_NQ", &Config::cpu_direct_max_nq},
    {"sync_check", "KNNX_SYNC_CHECK", &Config::sync_check},
    {"gpu_workspace_mb", "KNNX_GPU_WORKSPACE_MB", &Config::gpu_workspace_mb},
    {"flat_stream_max_nq", "KNNX_FLAT_STREAM_MAX_NQ", &Config::flat_stream_max_nq},
    {"flat_stream_ring", "KNNX_FLAT_STREAM_RING", &Config::flat_stream_ring},
    {"gpu_radix_min_k", "KNNX_GPU_RADIX_MIN_K", &Config::gpu_radix_min_k},
    {"flat_tile_rows", "KNNX_FLAT_TILE_ROWS", &Config::flat_tile_rows},
    {"flat_tile_queries", "KNNX_FLAT_TILE_QUERIES", &Config::flat_tile_queries},
    {"flat_overfetch", "KNNX_FLAT_OVERFETCH", &Config::flat_overfetch},
    {"flat_fast_max_k", "KNNX_FLAT_FAST_MAX_K", &Config::flat_fast_max_k},
    {"flat_gemm", "KNNX_FLAT_GEMM", &Config::flat_gemm},
    {"flat_fast_kernel", "KNNX_FLAT_FAST_KERNEL", &Config::flat_fast_kernel},
    {"flat_fused_operands", "KNNX_FLAT_FUSED_OPERANDS", &Config::flat_fused_operands},
    {"flat_fused_mma", "KNNX_FLAT_FUSED_MMA", &Config::flat_fused_mma},
    {"flat_fused_cap", "KNNX_FLAT_FUSED_CAP", &Config::flat_fused_cap},
    {"ivf_tpb", "KNNX_IVF_TPB", &Config::ivf_tpb},
    {"ivf_fused", "KNNX_IVF_FUSED", &Config::ivf_fused},
    {"ivf_rows_per_chunk", "KNNX_IVF_ROWS_PER_CHUNK", &Config::ivf_rows_per_chunk},
    {"ivf_shared", "KNNX_IVF_SHARED", &Config::ivf_shared},
    {"gemm_tile_av", "KNNX_GEMM_TILE_AV", &Config::gemm_tile_av},
    {"gemm_tile_atb", "KNNX_GEMM_TILE_ATB", &Config::gemm_tile_atb},
    {"qr_dot", "KNNX_QR_DOT", &Config::qr_dot},
    {"qr_warp_min_rows", "KNNX_QR_WARP_MIN_ROWS", &Config::qr_warp_min_rows},
    {"svd_band", "KNNX_SVD_BAND", &Config::svd_band},
    {"svd_streams", "KNNX_SVD_STREAMS", &Config::svd_streams},
};

std::string python_name(std::string_view env_name) {
  constexpr std::string_view kPrefix = "KNNX_";
  if (env_name.substr(0, kPrefix.size()) == kPrefix) env_name.remove_prefix(kPrefix.size());
  std::string name(env_name);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string known_names() {
  std::string names;
  for (const KnobField& k : kKnobFields) {
    if (!names.empty()) names += ", ";
    names += k.name;
  }
  return names;
}

nb::typed<nb::dict, nb::str, nb::object> config_dict() {
  const Config c = config();
  nb::typed<nb::dict, nb::str, nb::object> out;
  for (const KnobField& k : kKnobFields) {
    std::visit([&](auto field) { out[k.name] = c.*field; }, k.field);
  }
  return out;
}

int int_value(const char* name, nb::handle value) {
  // bool is an int in Python, but True for a thread count is a mistake, not a 1.
  if (nb::isinstance<nb::bool_>(value) || !PyIndex_Check(value.ptr())) {
    throw InvalidArgument(
        fmt::format("{} must be an integer, got {}", name, nb::repr(value).c_str()));
  }
  nb::object index = nb::steal(PyNumber_Index(value.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (overflow != 0 || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    throw InvalidArgument(
        fmt::format("{} = {} is out of range", name, nb::repr(value).c_str()));
  }
  return static_cast<int>(v);
}

bool bool_value(const char* name, nb::handle value) {
  if (nb::isinstance<nb::bool_>(value)) return nb::cast<bool>(value);
  if (PyIndex_Check(value.ptr())) {
    nb::object index = nb::steal(PyNumber_Index(value.ptr()));
    if (!index.is_valid()) throw nb::python_error();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow == 0 && (v == 0 || v == 1)) return v == 1;
  }
  throw InvalidArgument(
      fmt::format("{} must be True, False, 0 or 1, got {}", name, nb::repr(value).c_str()));
}

std::string str_value(const char* name, nb::handle value) {
  if (!nb::isinstance<nb::str>(value)) {
    throw InvalidArgument(
        fmt::format("{} must be a string, got {}", name, nb::repr(value).c_str()));
  }
  return nb::cast<std::string>(value);
}

void set_config_kwargs(const nb::kwargs& kwargs) {
  Config c = config();
  for (auto [key, value] : kwargs) {
    const std::string name = nb::cast<std::string>(key);
    const KnobField* knob = nullptr;
    for (const KnobField& k : kKnobFields) {
      if (name == k.name) knob = &k;
    }
    if (knob == nullptr) {
      throw InvalidArgument(
          fmt::format("unknown knob \"{}\"; the knobs are {}", name, known_names()));
    }
    std::visit(
        [&](auto field) {
          using Field = std::remove_reference_t<decltype(c.*field)>;
          if constexpr (std::is_same_v<Field, bool>) {
            c.*field = bool_value(knob->name, value);
          } else if constexpr (std::is_same_v<Field, std::string>) {
            c.*field = str_value(knob->name, value);
          } else {
            c.*field = int_value(knob->name, value);
          }
        },
        knob->field);
  }
  set_config(c);  // validates every range (InvalidArgument naming the variable)
}

nb::typed<nb::list, nb::typed<nb::dict, nb::str, nb::str>> describe_knobs_list() {
  nb::typed<nb::list, nb::typed<nb::dict, nb::str, nb::str>> out;
  for (const KnobInfo& info : describe_knobs()) {
    nb::typed<nb::dict, nb::str, nb::str> d;
    d["name"] = python_name(info.env_name);
    d["env_name"] = info.env_name;
    d["value"] = info.value;
    d["default"] = info.default_value;
    d["range"] = info.range;
    d["description"] = info.description;
    out.append(d);
  }
  return out;
}

}  // namespace

void bind_config(nb::module_& m) {
  m.def("config", &config_dict,
        "The knob values in force, as a dict {name: value}. Read once from the KNNX_*\n"
        "environment variables at first use; changed by set_config().");
  m.def("set_config", &set_config_kwargs,
        "Sets knobs by name, e.g. set_config(num_threads=4, cpu_query_block=512). Unknown\n"
        "names and out-of-range values raise ValueError and change nothing. Takes effect for\n"
        "calls that start afterwards.",
        nb::sig("def set_config(**knobs: int | bool | str) -> None"));
  m.def("reload_config_from_env", &reload_config_from_env,
        "Re-reads the KNNX_* environment variables, replacing the values in force.");
  m.def("describe_knobs", &describe_knobs_list,
        "One dict per knob (name, env_name, value, default, range, description), in a stable\n"
        "order.");
}

}  // namespace knnx::python
