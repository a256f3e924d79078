// core/search_knobs.hpp — the complete settings one search runs with, as the backends see them.
//
// The index layer resolves a call's SearchParams (validated) against the index's own settings
// and the process defaults (knnx::config()) into one SearchKnobs, once per call, and passes it
// down; backends read every search setting from it, never from config(), so concurrent searches
// with different parameters do not interfere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/workspace.hpp"
#include "knnx/config.hpp"
#include "knnx/search_params.hpp"

namespace knnx::detail {

// KNNX_FLAT_FAST_KERNEL: how the fast GPU flat mode finds its candidates.
enum class FlatFastKernel { Auto, Gemm, Fused };
// KNNX_FLAT_FUSED_MMA: the fused kernel's instruction on FP16 operands.
enum class FlatFusedMma { Auto, Wgmma, Sync };

struct SearchKnobs {
  // Scratch bound of one GPU search: SearchParams::workspace_bytes, else KNNX_GPU_WORKSPACE_MB
  // (both explicit), else 0 until the CUDA backend, as the call starts, puts the default share
  // of the device's free memory here (cuda/runtime/workspace.hpp).
  std::int64_t workspace_bytes = 0;
  bool workspace_explicit = false;

  // Flat (exact distances over rows: IndexFlat, IVF centroids).
  bool flat_fast = false;  // FlatPrecision::Fast
  int flat_overfetch = 0;
  int flat_fast_max_k = 0;
  FlatGemm flat_gemm = FlatGemm::Tf32x3;
  FlatFastKernel flat_fast_kernel = FlatFastKernel::Auto;
  int flat_fused_cap = 0;       // KNNX_FLAT_FUSED_CAP
  bool flat_fused_fp16 = true;  // KNNX_FLAT_FUSED_OPERANDS=fp16
  FlatFusedMma flat_fused_mma = FlatFusedMma::Auto;
  int flat_stream_max_nq = 0;
  int flat_stream_ring = 0;  // KNNX_FLAT_STREAM_RING
  int flat_tile_rows = 0;
  int flat_tile_queries = 0;
  int cpu_query_block = 0;
  int cpu_base_block = 0;
  int cpu_direct_max_nq = 0;
  int gpu_radix_min_k = 2049;  // GPU flat and IVF: k from which radix selection runs

  // The ids results may hold (SearchParams::sel); null admits every id.
  const IDSelector* sel = nullptr;

  // IVF.
  int nprobe = 1;  // already clamped to [1, n_lists]
  bool ivf_fused = true;
  int ivf_shared = -1;
  int ivf_rows_per_chunk = 0;
  int ivf_tpb = 0;

  // Process-wide settings that do not change results or memory.
  int num_threads = 0;
  bool sync_check = false;
};

// What an index contributes to a search's settings: its own values of the fields SearchParams
// may override.
struct IndexSearchDefaults {
  FlatPrecision precision = FlatPrecision::Exact;
  int nprobe = 1;
  int n_lists = 1;  // nprobe is clamped to it
};

// The knobs of `params` (validated; may be null) over the index's settings and the process
// defaults `defaults`.
SearchKnobs resolve_search_knobs(const SearchParams* params, const IndexSearchDefaults& index,
                                 const Config& defaults);

// Throws InvalidArgument, naming the variable and its range, unless `text` is a value the knob
// env_name (e.g. "KNNX_FLAT_OVERFETCH") accepts. SearchParams fields share their knobs' ranges
// through it (src/core/config.cpp holds the table).
void check_knob_value(std::string_view env_name, std::string_view text);

// The SearchParams field that overrides the knob env_name for one call
// ("SearchParams.flat_overfetch"), or "" when the knob is process-wide only.
std::string search_param_overriding(std::string_view env_name);

// The name of params' dynamic type, for messages ("knnx::SearchParamsIVF").
const char* search_params_type_name(const SearchParams& params);

// The workspace bound of a search whose knobs are resolved (workspace_bytes > 0).
inline WorkspaceBound workspace_bound(const SearchKnobs& knobs) {
  return {knobs.workspace_bytes, knobs.workspace_explicit};
}

// The knobs of a search with no params, from the process defaults in force (config()); for
// searches knnx runs internally (assignment in add(), k-means).
SearchKnobs default_search_knobs();

}  // namespace knnx::detail
