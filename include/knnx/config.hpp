// knnx/config.hpp — tunable knobs, read once from KNNX_* environment variables.
//
// The first call to config() reads the environment; set_config() replaces the values later.
// Hot code never reads the environment: it receives these values as parameters.
// Every knob is listed with its default and range in docs/knobs.md.
#pragma once

#include <string>
#include <vector>

namespace knnx {

struct Config {
  // KNNX_NUM_THREADS: CPU worker threads; 0 means the OpenMP default.
  int num_threads = 0;
  // KNNX_CPU_QUERY_BLOCK: queries per block in CPU brute-force search.
  int cpu_query_block = 1024;
  // KNNX_CPU_BASE_BLOCK: database rows per block in CPU brute-force search.
  int cpu_base_block = 1024;
  // KNNX_CPU_DIRECT_MAX_NQ: CPU flat searches with at most this many queries compute their
  // products with the direct SIMD kernel, which reads the base unpacked; more queries use
  // blocked sgemm. 0 picks the crossover measured for the instruction set the kernels run with.
  int cpu_direct_max_nq = 0;
  // KNNX_SYNC_CHECK: synchronise and check after every CUDA launch (debugging aid).
  bool sync_check = false;
  // KNNX_GPU_WORKSPACE_MB: bound on the scratch memory one GPU search may use, in MiB (16 ..
  // 1048576); 0 = the default bound of SearchParams::workspace_bytes (a quarter of the device's
  // free memory at the call, within 16 MiB .. 16 GiB).
  int gpu_workspace_mb = 0;
  // KNNX_FLAT_STREAM_MAX_NQ: GPU flat searches with at most this many queries use the fused
  // streaming kernel (one pass over the base per query block); more use GEMM tiles + select.
  int flat_stream_max_nq = 8;
  // KNNX_FLAT_STREAM_RING: how the streaming kernel's warps keep reads in flight: 0 = the next
  // unit (a step of 4 rows, 2 KB a warp) in registers; 3 or 4 = a ring of that many units in
  // shared memory filled by asynchronous copies, 2 or 3 units a warp in flight; -1 = by the
  // measured rule (src/cuda/flat/flat_cuda.cpp, kAutoStreamRing): 4 for long parts (large
  // bases) where three blocks a multiprocessor fit, 0 elsewhere.
  int flat_stream_ring = -1;
  // KNNX_GPU_RADIX_MIN_K: GPU flat and IVF searches with k at or above this select their results
  // by radix selection over all of a query's candidates (histogram passes on the score keys,
  // then a sort of the k kept); smaller k use the block selection of the streaming and tiled
  // kernels. k above 2048 always takes the radix selection.
  int gpu_radix_min_k = 2049;
  // KNNX_FLAT_TILE_ROWS / KNNX_FLAT_TILE_QUERIES: GEMM tile shape of the many-query GPU path.
  int flat_tile_rows = 65536;
  int flat_tile_queries = 4096;
  // KNNX_FLAT_OVERFETCH: candidates per result kept by the fast (tf32) GPU mode before exact
  // re-ranking (capped at 4096 candidates).
  int flat_overfetch = 2;
  // KNNX_FLAT_FAST_MAX_K: the largest k for which the fast GPU mode runs; past it the selection
  // of flat_overfetch x k candidates costs more than the tf32 GEMM saves, and the search runs
  // exact (IndexFlat::precision_used says which). 0: fast precision never runs.
  int flat_fast_max_k = 256;
  // KNNX_FLAT_GEMM: how the exact many-query GPU path computes its score tiles: "3xtf32" (each
  // operand split into two tf32 parts, three tensor-core products summed in float32:
  // float32-level error at tensor-core rates) or "fp32" (cuBLAS SGEMM on the FP32 cores).
  std::string flat_gemm = "3xtf32";
  // KNNX_FLAT_FAST_KERNEL: how the fast GPU mode finds its candidates: "gemm" (TF32 cuBLAS score
  // tiles written to memory, then selected), "fused" (tensor-core tiles whose epilogue keeps
  // only scores under each query's threshold, seeded from a sample of rows; a query whose
  // candidate buffer overflows is searched exactly), or "auto": up to 128 dimensions, fused on
  // FP16 operands for small k and on TF32 operands for moderate k (src/cuda/flat/fused_fast.hpp,
  // kFusedFp16AutoMaxK and kFusedAutoMaxK, from measurements), gemm elsewhere.
  std::string flat_fast_kernel = "auto";
  // KNNX_FLAT_FUSED_OPERANDS: the fused kernel's tensor-core operands: "fp16" (queries and rows
  // scaled by powers of two and rounded to fp16, m16n8k16: twice tf32's rate; up to 128
  // dimensions, tf32 past that) or "tf32". Both keep 11 significant bits, so the error bound and
  // the candidates are alike. Under KNNX_FLAT_FAST_KERNEL=auto, "fp16" lets its rule choose fp16
  // for small k; "tf32" keeps tf32 throughout.
  std::string flat_fused_operands = "fp16";
  // KNNX_FLAT_FUSED_MMA: the tensor-core instruction of the fused kernel on FP16 operands:
  // "auto" (the default): wgmma where the device has it and the copy below fits a quarter of
  // the workspace, sync elsewhere; "sync" (mma.sync, any device); "wgmma" (Hopper's warpgroup
  // MMA, operands read from shared memory through descriptors; compute capability 9.0, on an
  // FP16 copy of the rows made once a search in the workspace; 1.5-1.7x faster than sync on an
  // H100, bench/NOTES.md). wgmma on a device without it is an error.
  std::string flat_fused_mma = "auto";
  // KNNX_FLAT_FUSED_CAP: candidates a query's buffer holds in the fused fast kernel; 0 = the
  // rule of src/cuda/flat/fused_fast.hpp (about 4x the expected count).
  int flat_fused_cap = 0;
  // KNNX_IVF_TPB: threads per block of the GPU IVF scan kernels (128, 256 or 512).
  int ivf_tpb = 256;
  // KNNX_IVF_FUSED: 1 = distances and top-k selection in one kernel (no distance array);
  // 0 = write every candidate's distance, then select (the unfused baseline).
  bool ivf_fused = true;
  // KNNX_IVF_ROWS_PER_CHUNK: candidate rows one block scans for one query (or, in the shared
  // scan, of one list for a group of queries) before its partial top-k is merged on the device
  // with the other chunks' (long probe lists are split; below this bound the chunk size follows
  // the work, to fill the device).
  int ivf_rows_per_chunk = 8192;
  // KNNX_IVF_SHARED: list-major "shared candidates" scan, where a list is read once for all the
  // queries of a batch that probe it (k <= 32). -1 = when lists are probed by >= 4 queries on
  // average, 0 = never, 1 = whenever k allows.
  int ivf_shared = -1;
  // KNNX_GEMM_TILE_AV / KNNX_GEMM_TILE_ATB: block tile ("BMxBN", e.g. "128x64") of the tiled GPU
  // GEMM kernels C = A V and C = A^T B; "auto" takes the tile table entry of the device's
  // architecture. Accepted tiles: 32x32, 64x64, 128x32, 128x64, 128x128.
  std::string gemm_tile_av = "auto";
  std::string gemm_tile_atb = "auto";
  // KNNX_QR_DOT: kernel of the GPU projection c = Q^T v: "simple" (a thread per column), "warp"
  // (a warp per column, lanes striding rows) or "auto" (warp from qr_warp_min_rows rows on).
  std::string qr_dot = "auto";
  // KNNX_QR_WARP_MIN_ROWS: the row count from which KNNX_QR_DOT=auto picks the warp kernel
  // (64: where the warp kernel overtook the per-thread one for k = 8 on an H100; docs/linalg.md).
  int qr_warp_min_rows = 64;
  // KNNX_SVD_BAND: rows of A per band in the GPU SVD step Z = A^T (A V); 0 = two full passes
  // (A V for all rows, then A^T of it).
  int svd_band = 0;
  // KNNX_SVD_STREAMS: streams the bands of the GPU SVD step are spread over (1 = one stream).
  int svd_streams = 1;
};

// The knob values in force. Thread-safe. Throws InvalidArgument naming the variable when an
// environment value cannot be parsed or is out of range.
Config config();

// Replaces the knob values in force (validated like the environment; throws InvalidArgument).
void set_config(const Config& config);

// Re-reads the KNNX_* environment variables, replacing the values in force.
void reload_config_from_env();

struct KnobInfo {
  std::string env_name;  // e.g. "KNNX_NUM_THREADS"
  std::string value;     // value in force, as text
  std::string default_value;
  std::string range;  // accepted values, as text
  std::string description;
  // The knnx::SearchParams field that overrides the knob for one search
  // ("SearchParamsIVF.rows_per_chunk"), or empty when the knob is process-wide only.
  std::string search_param;
};

// One entry per knob, in a stable order (used by `knnx info` and docs/knobs.md).
std::vector<KnobInfo> describe_knobs();

}  // namespace knnx
