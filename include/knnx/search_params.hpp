// knnx/search_params.hpp — parameters of one search call, as FAISS's SearchParameters.
//
// Every Index::search takes an optional `const SearchParams*`. nullptr, and any field left
// unset (std::nullopt), mean the index's own setting (e.g. IndexIVFFlat::n_probe(),
// IndexFlat::precision()) or, for knobs that are not index settings, the process default in
// force (knnx::config(), read from the KNNX_* environment once at first use; docs/knobs.md).
// A field set here applies to that call only: the index is not modified, so threads may search
// one index at the same time with different parameters.
//
// Search validates the parameters once, before any work: a field out of range, or a params type
// the index kind does not take (SearchParamsIVF on an IndexFlat), throws InvalidArgument naming
// the field or type, and the call does nothing. Composite indexes (IndexShards, IndexReplicas,
// IndexPreTransform) pass the params on to the indexes they hold.
//
// The structs are plain data: copy them freely; a search only reads them during the call.
#pragma once

#include <cstdint>
#include <optional>

#include "knnx/id_selector.hpp"

namespace knnx {

// How a GPU flat search computes distances. Exact: float32-level distances (FP32 kernels;
// batches of many queries take their score tiles from 3xTF32 tensor-core products, see
// SearchParams::flat_gemm, whose error stays within a few float32 roundings). Fast: tensor-core
// distances (tf32, or fp16 operands scaled by powers of two; KNNX_FLAT_FAST_KERNEL and
// KNNX_FLAT_FUSED_OPERANDS) pick candidates, at least flat_overfetch x k, which are then
// re-ranked exactly in float32, so returned distances are exact and only the candidate set is
// approximate. The CPU backend is always exact.
enum class FlatPrecision { Exact, Fast };

// Score tiles of the exact many-query GPU flat path: Tf32x3 splits each operand into two tf32
// parts and sums three tensor-core products in float32 (float32-level error at tensor-core
// rates); Fp32 runs cuBLAS SGEMM on the FP32 cores.
enum class FlatGemm { Tf32x3, Fp32 };

// Parameters every index takes. The flat fields apply wherever a search computes exact
// distances over a set of rows: an IndexFlat's rows, and an IVF index's centroids (the coarse
// quantisation that picks the probed lists).
struct SearchParams {
  SearchParams() = default;
  SearchParams(const SearchParams&) = default;
  SearchParams& operator=(const SearchParams&) = default;
  virtual ~SearchParams() = default;

  // Throws InvalidArgument naming the first field out of range. Index::search calls it. A
  // field's range is that of the KNNX_* knob giving its default (docs/knobs.md).
  virtual void validate() const;

  // Bound on the scratch memory one GPU search may use (staged queries, score tiles, partial
  // results; not the nq x k results, whose device copy for host result arrays is made whole
  // when it fits the bound, else one batch at a time), in bytes, in [16 MiB, 1 TiB]. Unset:
  // KNNX_GPU_WORKSPACE_MB when it is not 0, else the default bound, a quarter of the device
  // memory free as the search starts (cudaMemGetInfo's free bytes plus what knnx's memory pool
  // keeps unused, measured at most every 50 ms), within 16 MiB .. 16 GiB. Queries are searched
  // in batches that fit the bound, so any nq runs. A bound given here or by the knob that is
  // too small for even one query (e.g. a flat search of large k, which needs a query's scores
  // over every stored row at once) throws InvalidArgument naming the bytes one query needs;
  // under the default bound such a query runs alone. docs/knobs.md.
  std::optional<std::int64_t> workspace_bytes;

  // GPU flat distances (default: IndexFlat::precision(); Exact for IVF centroids).
  std::optional<FlatPrecision> precision;
  // Fast precision: candidates kept per result before exact re-ranking (default
  // KNNX_FLAT_OVERFETCH; at most 4096 candidates per query are kept).
  std::optional<int> flat_overfetch;
  // Exact precision, many queries: how score tiles are computed (default KNNX_FLAT_GEMM).
  std::optional<FlatGemm> flat_gemm;
  // GPU flat: searches of at most this many queries run the fused streaming kernel; more run
  // GEMM tiles + selection (default KNNX_FLAT_STREAM_MAX_NQ).
  std::optional<int> flat_stream_max_nq;
  // GPU flat GEMM tile shape: database rows and queries per tile (defaults KNNX_FLAT_TILE_ROWS,
  // KNNX_FLAT_TILE_QUERIES).
  std::optional<int> flat_tile_rows;
  std::optional<int> flat_tile_queries;

  // CPU flat: queries per block, database rows per block, and the query count up to which the
  // direct SIMD kernel replaces sgemm, 0 = the measured crossover (defaults
  // KNNX_CPU_QUERY_BLOCK, KNNX_CPU_BASE_BLOCK, KNNX_CPU_DIRECT_MAX_NQ).
  std::optional<int> cpu_query_block;
  std::optional<int> cpu_base_block;
  std::optional<int> cpu_direct_max_nq;

  // The ids the search may return (knnx/id_selector.hpp); null admits every id. Non-owning, as
  // in FAISS: the selector must outlive the call. Honoured by search of IndexFlat and
  // IndexIVFFlat on the CPU and on CUDA devices (there, is_member is called once per stored
  // vector per call, on the host), and by their range_search on both; by the compressed
  // indexes' search and range_search wherever they have them.
  const IDSelector* sel = nullptr;
};

// Parameters of inverted-file indexes (IndexIVFFlat).
struct SearchParamsIVF : SearchParams {
  void validate() const override;

  // Lists scanned per query, >= 1 (default IndexIVFFlat::n_probe()). Values above the index's
  // n_lists are clamped to n_lists, as FAISS does and as IndexIVFFlat::set_n_probe does.
  std::optional<int> nprobe;
  // GPU: true fuses distances and top-k selection in one kernel; false writes every candidate's
  // distance, then selects (default KNNX_IVF_FUSED).
  std::optional<bool> scan_fused;
  // GPU: the list-major scan that reads a probed list once for all the queries probing it
  // (k <= 32): -1 = when lists are probed by >= 2 queries on average, 0 = never, 1 = whenever
  // k allows (default KNNX_IVF_SHARED).
  std::optional<int> shared_scan;
  // GPU: candidate rows one block scans before its partial top-k is merged on the device
  // (default KNNX_IVF_ROWS_PER_CHUNK).
  std::optional<int> rows_per_chunk;
};

// Parameters of IndexRefineFlat (FAISS's SearchParametersRefine): the base index searches
// k * k_factor candidates with base_params (or, when null, these parameters' own fields), which
// are then re-ranked with exact distances.
struct SearchParamsRefine : SearchParams {
  void validate() const override;

  // Candidates per result, >= 1 and finite (default IndexRefineFlat::k_factor()).
  std::optional<float> k_factor;
  // The base index's parameters (e.g. a SearchParamsIVF); non-owning, as sel. Null: the base
  // search takes the SearchParams fields of this object.
  const SearchParams* base_params = nullptr;
};

}  // namespace knnx
