#include "knnx/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/gemm_tiles.hpp"
#include "core/search_knobs.hpp"
#include "knnx/error.hpp"

namespace knnx {
namespace {

// One knob: how to read it from text, check it, and print it.
struct Knob {
  const char* env_name;
  const char* range;
  const char* description;
  std::function<void(Config&, std::string_view)> parse;  // throws InvalidArgument
  std::function<std::string(const Config&)> print;
};

int parse_int(std::string_view name, std::string_view text, int lo, int hi) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    throw InvalidArgument(
        fmt::format("{} must be an integer in [{}, {}], got \"{}\"", name, lo, hi, text));
  }
  return value;
}

bool parse_bool(std::string_view name, std::string_view text) {
  if (text == "1" || text == "true" || text == "on" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "off" || text == "no" || text.empty()) {
    return false;
  }
  throw InvalidArgument(fmt::format("{} must be 0 or 1, got \"{}\"", name, text));
}

template <int Config::*Field>
Knob int_knob(const char* name, int lo, int hi, const char* range, const char* description) {
  return Knob{
      name, range, description,
      [name, lo, hi](Config& c, std::string_view t) { c.*Field = parse_int(name, t, lo, hi); },
      [](const Config& c) { return std::to_string(c.*Field); }};
}

template <bool Config::*Field>
Knob bool_knob(const char* name, const char* description) {
  return Knob{name, "0 or 1", description,
              [name](Config& c, std::string_view t) { c.*Field = parse_bool(name, t); },
              [](const Config& c) { return std::string(c.*Field ? "1" : "0"); }};
}

// "auto" or one of the GEMM tile shapes the kernels are compiled for ("BMxBN").
std::string parse_gemm_tile(std::string_view name, std::string_view text) {
  if (text == "auto") return std::string(text);
  std::string accepted;
  for (const detail::GemmTileShape& t : detail::kGemmTileShapes) {
    const std::string shape = fmt::format("{}x{}", t.bm, t.bn);
    if (text == shape) return shape;
    accepted += (accepted.empty() ? "" : ", ") + shape;
  }
  throw InvalidArgument(fmt::format("{} must be \"auto\" or a tile BMxBN among {}, got \"{}\"",
                                    name, accepted, text));
}

std::string gemm_tile_range() {
  std::string range = "auto";
  for (const detail::GemmTileShape& t : detail::kGemmTileShapes) {
    range += fmt::format(", {}x{}", t.bm, t.bn);
  }
  return range;
}

template <std::string Config::*Field>
Knob tile_knob(const char* name, const char* description) {
  static const std::string range = gemm_tile_range();
  return Knob{name, range.c_str(), description,
              [name](Config& c, std::string_view t) { c.*Field = parse_gemm_tile(name, t); },
              [](const Config& c) { return c.*Field; }};
}

// A knob whose value is one of a fixed list of words.
template <std::string Config::*Field>
Knob choice_knob(const char* name, std::vector<std::string> choices, const char* range,
                 const char* description) {
  return Knob{name, range, description,
              [name, choices = std::move(choices)](Config& c, std::string_view t) {
                if (std::find(choices.begin(), choices.end(), t) == choices.end()) {
                  throw InvalidArgument(fmt::format("{} must be one of {}, got \"{}\"", name,
                                                    fmt::join(choices, ", "), t));
                }
                c.*Field = std::string(t);
              },
              [](const Config& c) { return c.*Field; }};
}

const std::vector<Knob>& knobs() {
  static const std::vector<Knob> table = {
      int_knob<&Config::num_threads>("KNNX_NUM_THREADS", 0, 4096, "0..4096",
                                     "CPU worker threads; 0 uses the OpenMP default"),
      // A thread's score tile holds query block x base block floats: the ranges keep it
      // within 1 GiB, whatever the pair.
      int_knob<&Config::cpu_query_block>("KNNX_CPU_QUERY_BLOCK", 1, 1 << 14, "1..16384",
                                         "queries per block in CPU brute-force search"),
      int_knob<&Config::cpu_base_block>("KNNX_CPU_BASE_BLOCK", 16, 1 << 14, "16..16384",
                                        "database rows per block in CPU brute-force search"),
      int_knob<&Config::cpu_direct_max_nq>(
          "KNNX_CPU_DIRECT_MAX_NQ", 0, 64, "0..64",
          "CPU flat: up to this many queries use the direct SIMD products kernel instead of "
          "sgemm; 0 = the crossover measured for the CPU's instruction set (3 with AVX-512, 32 "
          "with AVX2)"),
      bool_knob<&Config::sync_check>("KNNX_SYNC_CHECK",
                                     "synchronise and check for errors after every CUDA launch"),
      int_knob<&Config::gpu_workspace_mb>(
          "KNNX_GPU_WORKSPACE_MB", 0, 1 << 20, "0 (auto) or 16..1048576",
          "bound on scratch memory of one GPU search, in MiB; 0 = a quarter of the device's "
          "free memory at the call, within 16 MiB..16 GiB"),
      int_knob<&Config::flat_stream_max_nq>(
          "KNNX_FLAT_STREAM_MAX_NQ", 0, 1024, "0..1024",
          "GPU flat: up to this many queries use the fused streaming scan + select kernel"),
      int_knob<&Config::flat_stream_ring>(
          "KNNX_FLAT_STREAM_RING", -1, 4, "-1 (auto), 0, 3 or 4",
          "GPU flat streaming kernel (few queries): 0 keeps a warp's next rows in registers; 3 "
          "or 4 queue them that many steps ahead into shared memory by asynchronous copies; -1 "
          "= 4 for large bases (long parts, three blocks a multiprocessor), 0 elsewhere"),
      int_knob<&Config::gpu_radix_min_k>(
          "KNNX_GPU_RADIX_MIN_K", 1, 2049, "1..2049",
          "GPU flat and IVF: k from which results come from radix selection over all candidates "
          "instead of block selection (k above 2048 always)"),
      int_knob<&Config::flat_tile_rows>("KNNX_FLAT_TILE_ROWS", 256, 1 << 24, "256..16777216",
                                        "GPU flat: database rows per GEMM tile (many queries)"),
      int_knob<&Config::flat_tile_queries>("KNNX_FLAT_TILE_QUERIES", 1, 65535, "1..65535",
                                           "GPU flat: queries per GEMM tile (many queries)"),
      int_knob<&Config::flat_overfetch>(
          "KNNX_FLAT_OVERFETCH", 1, 64, "1..64",
          "GPU flat fast mode: candidates kept per result before exact re-ranking"),
      int_knob<&Config::flat_fast_max_k>(
          "KNNX_FLAT_FAST_MAX_K", 0, 2048, "0..2048",
          "GPU flat fast mode: largest k it runs for; larger k run exact (0: never fast)"),
      choice_knob<&Config::flat_gemm>(
          "KNNX_FLAT_GEMM", {"3xtf32", "fp32"}, "3xtf32 or fp32",
          "GPU flat, exact mode, batches of at least 2 queries per SM: score tiles by 3xTF32 "
          "(split tf32 operands on tensor cores, float32-level error) or by FP32 SGEMM"),
      choice_knob<&Config::flat_fast_kernel>(
          "KNNX_FLAT_FAST_KERNEL", {"auto", "gemm", "fused"}, "auto, gemm or fused",
          "GPU flat fast mode: candidates from TF32 cuBLAS score tiles (gemm), from the fused "
          "tensor-core kernel that keeps only scores under each query's threshold (fused), or "
          "by measured rule: fused (fp16 for small k, tf32 up to k 100) on up to 128 dimensions, "
          "gemm elsewhere (auto)"),
      choice_knob<&Config::flat_fused_operands>(
          "KNNX_FLAT_FUSED_OPERANDS", {"fp16", "tf32"}, "fp16 or tf32",
          "GPU flat fused fast kernel: tensor-core operands, fp16 (scaled by powers of two; up "
          "to 128 dimensions, tf32 past that) or tf32"),
      choice_knob<&Config::flat_fused_mma>(
          "KNNX_FLAT_FUSED_MMA", {"auto", "wgmma", "sync"}, "auto, wgmma or sync",
          "GPU flat fused fast kernel on fp16 operands: wgmma where the device and workspace "
          "allow it (auto, the default), Hopper's warpgroup MMA (wgmma; compute capability 9.0, "
          "on an fp16 copy of the rows in the workspace), or mma.sync (sync)"),
      int_knob<&Config::flat_fused_cap>(
          "KNNX_FLAT_FUSED_CAP", 0, 1 << 24, "0 (auto) or 1..16777216",
          "GPU flat fused fast kernel: candidates a query's buffer holds before the query is "
          "searched exactly; 0 = about 4x the expected count"),
      int_knob<&Config::ivf_tpb>("KNNX_IVF_TPB", 128, 512, "128, 256 or 512",
                                 "GPU IVF: threads per block of the scan kernels"),
      bool_knob<&Config::ivf_fused>(
          "KNNX_IVF_FUSED",
          "GPU IVF: 1 fuses distances and top-k; 0 writes distances, then selects"),
      int_knob<&Config::ivf_rows_per_chunk>(
          "KNNX_IVF_ROWS_PER_CHUNK", 256, 1 << 30, "256..1073741824",
          "GPU IVF: candidate rows per block before partial results are merged on the device"),
      int_knob<&Config::ivf_shared>(
          "KNNX_IVF_SHARED", -1, 1, "-1 (auto), 0 or 1",
          "GPU IVF: scan each probed list once for all queries probing it (k <= 32)"),
      tile_knob<&Config::gemm_tile_av>(
          "KNNX_GEMM_TILE_AV",
          "GPU tiled GEMM C = A V: block tile BMxBN; auto = the table entry of the device's SM "
          "architecture"),
      tile_knob<&Config::gemm_tile_atb>(
          "KNNX_GEMM_TILE_ATB",
          "GPU tiled GEMM C = A^T B: block tile BMxBN; auto = the table entry of the device's SM "
          "architecture"),
      choice_knob<&Config::qr_dot>(
          "KNNX_QR_DOT", {"auto", "simple", "warp"}, "auto, simple or warp",
          "GPU projection c = Q^T v: a thread per column (simple), a warp per column (warp), "
          "or warp from KNNX_QR_WARP_MIN_ROWS rows on (auto)"),
      int_knob<&Config::qr_warp_min_rows>(
          "KNNX_QR_WARP_MIN_ROWS", 1, 1 << 30, "1..1073741824",
          "GPU projection with KNNX_QR_DOT=auto: rows from which the warp-per-column kernel runs"),
      int_knob<&Config::svd_band>(
          "KNNX_SVD_BAND", 0, 1 << 30, "0..1073741824",
          "GPU SVD step Z = A^T (A V): rows of A per band (0 = two full passes, no banding)"),
      int_knob<&Config::svd_streams>(
          "KNNX_SVD_STREAMS", 1, 8, "1..8",
          "GPU SVD step Z = A^T (A V): streams the bands are spread over (bands of m/streams "
          "rows when KNNX_SVD_BAND is 0)"),
  };
  return table;
}

void validate(const Config& c) {
  if (c.ivf_tpb != 128 && c.ivf_tpb != 256 && c.ivf_tpb != 512) {
    throw InvalidArgument(
        fmt::format("KNNX_IVF_TPB must be 128, 256 or 512, got \"{}\"", c.ivf_tpb));
  }
  if (c.flat_stream_ring == 1 || c.flat_stream_ring == 2) {  // no kernel instance for these
    throw InvalidArgument(fmt::format(
        "KNNX_FLAT_STREAM_RING must be -1 (auto), 0, 3 or 4, got \"{}\"", c.flat_stream_ring));
  }
  if (c.gpu_workspace_mb > 0 && c.gpu_workspace_mb < 16) {
    throw InvalidArgument(
        fmt::format("KNNX_GPU_WORKSPACE_MB must be 0 (auto) or in [16, 1048576], got \"{}\"",
                    c.gpu_workspace_mb));
  }
  // Round-trip every field through its parser so set_config() applies the same ranges.
  Config copy = c;
  for (const Knob& k : knobs()) k.parse(copy, k.print(c));
}

Config from_env() {
  Config c;
  for (const Knob& k : knobs()) {
    if (const char* v = std::getenv(k.env_name)) k.parse(c, v);
  }
  validate(c);
  return c;
}

std::mutex g_mutex;
std::optional<Config> g_config;

}  // namespace

Config config() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_config) g_config = from_env();
  return *g_config;
}

void set_config(const Config& c) {
  validate(c);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_config = c;
}

void reload_config_from_env() {
  Config c = from_env();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_config = c;
}

namespace detail {

void check_knob_value(std::string_view env_name, std::string_view text) {
  for (const Knob& k : knobs()) {
    if (k.env_name != env_name) continue;
    Config scratch;
    k.parse(scratch, text);
    return;
  }
  throw Error(fmt::format("no knob named {}", env_name));  // a bug in knnx
}

}  // namespace detail

std::vector<KnobInfo> describe_knobs() {
  const Config current = config();
  const Config defaults{};
  std::vector<KnobInfo> out;
  for (const Knob& k : knobs()) {
    out.push_back({k.env_name, k.print(current), k.print(defaults), k.range, k.description,
                   detail::search_param_overriding(k.env_name)});
  }
  return out;
}

}  // namespace knnx
