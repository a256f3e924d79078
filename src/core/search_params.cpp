// SearchParams: validation of the fields, and their resolution against the index's settings and
// the process defaults into the SearchKnobs the backends read.
#include "knnx/search_params.hpp"

#include <algorithm>
#include <typeinfo>

#include "core/check.hpp"
#include "core/search_knobs.hpp"

namespace knnx {

namespace {

// Ranges as those of the matching KNNX_* knobs (src/core/config.cpp).
constexpr std::int64_t kMinWorkspaceBytes = std::int64_t{16} << 20;

void check_range(const std::optional<int>& value, const char* field, int lo, int hi) {
  if (value) {
    detail::require(*value >= lo && *value <= hi, "SearchParams.{} must be in [{}, {}], got {}",
                    field, lo, hi, *value);
  }
}

}  // namespace

void SearchParams::validate() const {
  if (workspace_bytes) {
    detail::require(*workspace_bytes >= kMinWorkspaceBytes,
                    "SearchParams.workspace_bytes must be >= {} (16 MiB), got {}",
                    kMinWorkspaceBytes, *workspace_bytes);
  }
  if (precision) {
    detail::require(*precision == FlatPrecision::Exact || *precision == FlatPrecision::Fast,
                    "SearchParams.precision must be Exact or Fast, got {}",
                    static_cast<int>(*precision));
  }
  if (flat_gemm) {
    detail::require(*flat_gemm == FlatGemm::Tf32x3 || *flat_gemm == FlatGemm::Fp32,
                    "SearchParams.flat_gemm must be Tf32x3 or Fp32, got {}",
                    static_cast<int>(*flat_gemm));
  }
  check_range(flat_overfetch, "flat_overfetch", 1, 64);
  check_range(flat_stream_max_nq, "flat_stream_max_nq", 0, 1024);
  check_range(flat_tile_rows, "flat_tile_rows", 256, 1 << 24);
  check_range(flat_tile_queries, "flat_tile_queries", 1, 65535);
  check_range(cpu_query_block, "cpu_query_block", 1, 1 << 20);
  check_range(cpu_base_block, "cpu_base_block", 16, 1 << 24);
  check_range(cpu_direct_max_nq, "cpu_direct_max_nq", 0, 64);
}

void SearchParamsIVF::validate() const {
  SearchParams::validate();
  if (nprobe) {
    detail::require(*nprobe >= 1, "SearchParamsIVF.nprobe must be >= 1, got {}", *nprobe);
  }
  check_range(shared_scan, "shared_scan", -1, 1);
  check_range(rows_per_chunk, "rows_per_chunk", 256, 1 << 30);
}

namespace detail {

SearchKnobs resolve_search_knobs(const SearchParams* params, const IndexSearchDefaults& index,
                                 const Config& defaults) {
  static const SearchParams kNone;
  const SearchParams& p = params ? *params : kNone;
  const auto* ivf = dynamic_cast<const SearchParamsIVF*>(params);

  SearchKnobs k;
  k.workspace_bytes =
      p.workspace_bytes.value_or(static_cast<std::int64_t>(defaults.gpu_workspace_mb) << 20);
  k.flat_fast = p.precision.value_or(index.precision) == FlatPrecision::Fast;
  k.flat_overfetch = p.flat_overfetch.value_or(defaults.flat_overfetch);
  k.flat_gemm =
      p.flat_gemm.value_or(defaults.flat_gemm == "fp32" ? FlatGemm::Fp32 : FlatGemm::Tf32x3);
  k.flat_stream_max_nq = p.flat_stream_max_nq.value_or(defaults.flat_stream_max_nq);
  k.flat_tile_rows = p.flat_tile_rows.value_or(defaults.flat_tile_rows);
  k.flat_tile_queries = p.flat_tile_queries.value_or(defaults.flat_tile_queries);
  k.cpu_query_block = p.cpu_query_block.value_or(defaults.cpu_query_block);
  k.cpu_base_block = p.cpu_base_block.value_or(defaults.cpu_base_block);
  k.cpu_direct_max_nq = p.cpu_direct_max_nq.value_or(defaults.cpu_direct_max_nq);

  const int nprobe = ivf && ivf->nprobe ? *ivf->nprobe : index.nprobe;
  k.nprobe = std::clamp(nprobe, 1, std::max(1, index.n_lists));
  k.ivf_fused = ivf && ivf->scan_fused ? *ivf->scan_fused : defaults.ivf_fused;
  k.ivf_shared = ivf && ivf->shared_scan ? *ivf->shared_scan : defaults.ivf_shared;
  k.ivf_rows_per_chunk =
      ivf && ivf->rows_per_chunk ? *ivf->rows_per_chunk : defaults.ivf_rows_per_chunk;
  k.ivf_tpb = defaults.ivf_tpb;

  k.num_threads = defaults.num_threads;
  k.sync_check = defaults.sync_check;
  return k;
}

const char* search_params_type_name(const SearchParams& params) {
  if (typeid(params) == typeid(SearchParams)) return "knnx::SearchParams";
  if (typeid(params) == typeid(SearchParamsIVF)) return "knnx::SearchParamsIVF";
  return "a type derived from knnx::SearchParams";
}

SearchKnobs default_search_knobs() {
  return resolve_search_knobs(nullptr, IndexSearchDefaults{}, config());
}

}  // namespace detail
}  // namespace knnx
