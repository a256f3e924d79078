// SearchParams: validation of the fields, and their resolution against the index's settings and
// the process defaults into the SearchKnobs the backends read.
#include "knnx/search_params.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <typeinfo>

#include "core/check.hpp"
#include "core/search_knobs.hpp"
#include "core/workspace.hpp"
#include "knnx/error.hpp"

namespace knnx {

namespace {

// The integer fields, each with the knob that supplies its default and its range.
template <typename Params>
struct IntField {
  std::optional<int> Params::*member;
  const char* field;
  const char* env_name;
};

constexpr IntField<SearchParams> kIntFields[] = {
    {&SearchParams::flat_overfetch, "flat_overfetch", "KNNX_FLAT_OVERFETCH"},
    {&SearchParams::flat_stream_max_nq, "flat_stream_max_nq", "KNNX_FLAT_STREAM_MAX_NQ"},
    {&SearchParams::flat_tile_rows, "flat_tile_rows", "KNNX_FLAT_TILE_ROWS"},
    {&SearchParams::flat_tile_queries, "flat_tile_queries", "KNNX_FLAT_TILE_QUERIES"},
    {&SearchParams::cpu_query_block, "cpu_query_block", "KNNX_CPU_QUERY_BLOCK"},
    {&SearchParams::cpu_base_block, "cpu_base_block", "KNNX_CPU_BASE_BLOCK"},
    {&SearchParams::cpu_direct_max_nq, "cpu_direct_max_nq", "KNNX_CPU_DIRECT_MAX_NQ"},
};
constexpr IntField<SearchParamsIVF> kIvfIntFields[] = {
    {&SearchParamsIVF::shared_scan, "shared_scan", "KNNX_IVF_SHARED"},
    {&SearchParamsIVF::rows_per_chunk, "rows_per_chunk", "KNNX_IVF_ROWS_PER_CHUNK"},
};

// Knobs that fields of other types override.
struct OtherField {
  const char* field;  // as in docs/knobs.md
  const char* env_name;
};
constexpr OtherField kOtherFields[] = {
    {"SearchParams.workspace_bytes", "KNNX_GPU_WORKSPACE_MB"},
    {"SearchParams.flat_gemm", "KNNX_FLAT_GEMM"},
    {"SearchParamsIVF.scan_fused", "KNNX_IVF_FUSED"},
};

// A field takes the range of the knob that supplies its default; the message names both.
template <typename Params, std::size_t N>
void check_int_fields(const Params& params, const IntField<Params> (&fields)[N], const char* type) {
  for (const IntField<Params>& f : fields) {
    const std::optional<int>& value = params.*f.member;
    if (!value) continue;
    try {
      detail::check_knob_value(f.env_name, std::to_string(*value));
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(fmt::format("{}.{} is out of range: {}", type, f.field, e.what()));
    }
  }
}

}  // namespace

void SearchParams::validate() const {
  if (workspace_bytes) {
    detail::require(*workspace_bytes >= detail::kMinWorkspaceBytes &&
                        *workspace_bytes <= detail::kMaxWorkspaceBytes,
                    "SearchParams.workspace_bytes must be in [{} (16 MiB), {} (1 TiB)], got {}",
                    detail::kMinWorkspaceBytes, detail::kMaxWorkspaceBytes, *workspace_bytes);
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
  check_int_fields(*this, kIntFields, "SearchParams");
}

void SearchParamsIVF::validate() const {
  SearchParams::validate();
  if (nprobe) {
    detail::require(*nprobe >= 1, "SearchParamsIVF.nprobe must be >= 1, got {}", *nprobe);
  }
  check_int_fields(*this, kIvfIntFields, "SearchParamsIVF");
}

void SearchParamsRefine::validate() const {
  SearchParams::validate();
  if (k_factor) {
    detail::require(std::isfinite(*k_factor) && *k_factor >= 1.0f,
                    "SearchParamsRefine.k_factor must be finite and >= 1, got {}", *k_factor);
  }
  if (base_params) base_params->validate();
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
  k.workspace_explicit = k.workspace_bytes > 0;  // 0: the backend measures the default
  k.flat_fast = p.precision.value_or(index.precision) == FlatPrecision::Fast;
  k.flat_overfetch = p.flat_overfetch.value_or(defaults.flat_overfetch);
  k.flat_fast_max_k = defaults.flat_fast_max_k;
  k.flat_gemm =
      p.flat_gemm.value_or(defaults.flat_gemm == "fp32" ? FlatGemm::Fp32 : FlatGemm::Tf32x3);
  k.flat_fast_kernel = defaults.flat_fast_kernel == "fused"  ? FlatFastKernel::Fused
                       : defaults.flat_fast_kernel == "gemm" ? FlatFastKernel::Gemm
                                                             : FlatFastKernel::Auto;
  k.flat_fused_cap = defaults.flat_fused_cap;
  k.flat_fused_fp16 = defaults.flat_fused_operands == "fp16";
  k.flat_fused_mma = defaults.flat_fused_mma == "wgmma"  ? FlatFusedMma::Wgmma
                     : defaults.flat_fused_mma == "auto" ? FlatFusedMma::Auto
                                                         : FlatFusedMma::Sync;
  k.flat_stream_max_nq = p.flat_stream_max_nq.value_or(defaults.flat_stream_max_nq);
  k.flat_stream_ring = defaults.flat_stream_ring;
  k.flat_tile_rows = p.flat_tile_rows.value_or(defaults.flat_tile_rows);
  k.flat_tile_queries = p.flat_tile_queries.value_or(defaults.flat_tile_queries);
  k.cpu_query_block = p.cpu_query_block.value_or(defaults.cpu_query_block);
  k.cpu_base_block = p.cpu_base_block.value_or(defaults.cpu_base_block);
  k.cpu_direct_max_nq = p.cpu_direct_max_nq.value_or(defaults.cpu_direct_max_nq);
  k.gpu_radix_min_k = defaults.gpu_radix_min_k;
  k.sel = p.sel;

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

std::string search_param_overriding(std::string_view env_name) {
  for (const auto& f : kIntFields) {
    if (env_name == f.env_name) return fmt::format("SearchParams.{}", f.field);
  }
  for (const auto& f : kIvfIntFields) {
    if (env_name == f.env_name) return fmt::format("SearchParamsIVF.{}", f.field);
  }
  for (const auto& f : kOtherFields) {
    if (env_name == f.env_name) return f.field;
  }
  return {};
}

const char* search_params_type_name(const SearchParams& params) {
  if (typeid(params) == typeid(SearchParams)) return "knnx::SearchParams";
  if (typeid(params) == typeid(SearchParamsIVF)) return "knnx::SearchParamsIVF";
  if (typeid(params) == typeid(SearchParamsRefine)) return "knnx::SearchParamsRefine";
  return "a type derived from knnx::SearchParams";
}

SearchKnobs default_search_knobs() {
  return resolve_search_knobs(nullptr, IndexSearchDefaults{}, config());
}

}  // namespace detail
}  // namespace knnx
