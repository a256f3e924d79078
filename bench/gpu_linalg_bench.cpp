// gpu_linalg_bench: times knnx's GPU linear algebra and prints one JSON document:
//   gemm       — every compiled tile and the tile table's pick against cuBLAS SGEMM on the shapes
//                the library runs (k-means assignment, PCA covariance, SVD Z-step, tall-skinny);
//   projection — c = Q^T v with the per-thread and warp-per-column kernels and cuBLAS gemv over
//                m = 128 .. 1M rows, and the crossover row count (first m where warp wins);
//   svd_z_step — Z = A^T (A V) two-pass vs banded vs banded over several streams;
//   batched_search — a large GPU IndexFlat search from host memory: one call, a synchronous
//                chunk loop, and search_batched_async (copies overlapped with search).
// Times are medians of --repeats runs after a warm-up, measured with CUDA events (device work)
// or the wall clock (host-driven pipelines).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "core/gemm_tiles.hpp"
#include "cuda/gemm/gemm.hpp"
#include "cuda/linalg/linalg_cuda.hpp"
#include "cuda/linalg/linalg_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "knnx/knnx.hpp"
#include "knnx/linalg.hpp"
#include "knnx/streams.hpp"

namespace {

using json = nlohmann::json;
using knnx::idx_t;
namespace kc = knnx::cuda;

void fill_uniform(std::vector<float>& v, std::uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(v.size()); ++i) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[static_cast<std::size_t>(i)] = static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median milliseconds of fn() queued on `s`, timed with events, after one warm-up.
double time_device(cudaStream_t s, int repeats, const std::function<void()>& fn) {
  cudaEvent_t e0, e1;
  KNNX_CUDA_CHECK(cudaEventCreate(&e0));
  KNNX_CUDA_CHECK(cudaEventCreate(&e1));
  fn();
  KNNX_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    KNNX_CUDA_CHECK(cudaEventRecord(e0, s));
    fn();
    KNNX_CUDA_CHECK(cudaEventRecord(e1, s));
    KNNX_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0.0f;
    KNNX_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return median(t);
}

double time_wall(int repeats, const std::function<void()>& fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

kc::DeviceBuffer<float> random_device(std::size_t count, std::uint64_t seed, cudaStream_t s) {
  std::vector<float> h(count);
  fill_uniform(h, seed);
  kc::DeviceBuffer<float> d(count, s);
  KNNX_CUDA_CHECK(cudaMemcpyAsync(d.data(), h.data(), count * 4, cudaMemcpyHostToDevice, s));
  KNNX_CUDA_CHECK(cudaStreamSynchronize(s));
  return d;
}

struct GemmCase {
  const char* name;
  kc::GemmOp op;
  std::int64_t m, n, k;  // as in gemm_av / gemm_at_b
};

json bench_gemm(kc::StreamContext& ctx, int repeats, double scale) {
  const cudaStream_t s = ctx.stream();
  auto sc = [&](std::int64_t v) { return std::max<std::int64_t>(1, static_cast<std::int64_t>(v * scale)); };
  const GemmCase cases[] = {
      {"kmeans_assign n x k x d", kc::GemmOp::AV, sc(262144), 128, 1024},
      {"kmeans_assign n x k x d (d=768)", kc::GemmOp::AV, sc(65536), 768, 4096},
      {"pca_covariance X^T X", kc::GemmOp::AtB, sc(1000000), 128, 128},
      {"svd_z A V", kc::GemmOp::AV, sc(1000000), 256, 32},
      {"svd_z A^T W", kc::GemmOp::AtB, sc(1000000), 256, 32},
      {"tall_skinny A V", kc::GemmOp::AV, sc(4000000), 64, 16},
  };
  const auto table_av = kc::resolve_gemm_tile(kc::GemmOp::AV, "auto", ctx.device());
  const auto table_atb = kc::resolve_gemm_tile(kc::GemmOp::AtB, "auto", ctx.device());
  json out = json::array();
  for (const GemmCase& c : cases) {
    const bool av = c.op == kc::GemmOp::AV;
    const std::size_t a_n = static_cast<std::size_t>(c.m * c.n);
    const std::size_t b_n = static_cast<std::size_t>((av ? c.n : c.m) * c.k);
    const std::size_t c_n = static_cast<std::size_t>((av ? c.m : c.n) * c.k);
    auto a = random_device(a_n, 1, s);
    auto b = random_device(b_n, 2, s);
    kc::DeviceBuffer<float> out_c(c_n, s);
    const double flops = 2.0 * double(c.m) * double(c.n) * double(c.k);
    json row = {{"case", c.name}, {"op", av ? "AV" : "AtB"}, {"m", c.m}, {"n", c.n}, {"k", c.k}};
    const float one = 1.0f, zero = 0.0f;
    const double t_cublas = time_device(s, repeats, [&] {
      if (av) {
        KNNX_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(c.k), int(c.m),
                                      int(c.n), &one, b.data(), int(c.k), a.data(), int(c.n), &zero,
                                      out_c.data(), int(c.k)));
      } else {
        KNNX_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, int(c.k), int(c.n),
                                      int(c.m), &one, b.data(), int(c.k), a.data(), int(c.n), &zero,
                                      out_c.data(), int(c.k)));
      }
    });
    row["cublas_ms"] = t_cublas;
    row["cublas_gflops"] = flops / t_cublas / 1e6;
    json tiles = json::object();
    for (const auto& tile : knnx::detail::kGemmTileShapes) {
      const double t = time_device(s, repeats, [&] {
        if (av) {
          kc::gemm_av(tile, c.m, c.n, c.k, 1.0f, a.data(), c.n, b.data(), c.k, 0.0f, out_c.data(),
                      c.k, s, false);
        } else {
          kc::gemm_at_b(tile, c.m, c.n, c.k, 1.0f, a.data(), c.n, b.data(), c.k, 0.0f,
                        out_c.data(), c.k, s, false);
        }
      });
      tiles[kc::gemm_tile_name(tile)] = {{"ms", t}, {"gflops", flops / t / 1e6},
                                         {"vs_cublas", t_cublas / t}};
    }
    row["tiles"] = tiles;
    row["table_tile"] = kc::gemm_tile_name((av ? table_av : table_atb).for_columns(c.k));
    std::string best;
    double best_t = 1e300;
    for (auto& [name, v] : tiles.items()) {
      if (v["ms"].get<double>() < best_t) {
        best_t = v["ms"].get<double>();
        best = name;
      }
    }
    row["best_tile"] = best;
    out.push_back(row);
    std::cerr << "gemm " << c.name << " done\n";
  }
  return out;
}

json bench_projection(kc::StreamContext& ctx, int repeats) {
  const cudaStream_t s = ctx.stream();
  json out = json::object();
  json rows = json::array();
  json crossover = json::object();
  for (const std::int64_t k : {8, 32, 64}) {
    std::int64_t cross = -1;
    for (const std::int64_t m : {16, 32, 64, 128, 512, 1024, 2048, 4096, 8192, 16384, 65536, 262144, 1048576}) {
      auto q = random_device(static_cast<std::size_t>(m * k), 3, s);
      auto v = random_device(static_cast<std::size_t>(m), 4, s);
      kc::DeviceBuffer<float> c(static_cast<std::size_t>(k), s);
      const double t_simple = time_device(s, repeats, [&] {
        kc::launch_project_coeffs(kc::QrDot::Simple, q.data(), m, k, m, v.data(), c.data(), s, false);
      });
      const double t_warp = time_device(s, repeats, [&] {
        kc::launch_project_coeffs(kc::QrDot::Warp, q.data(), m, k, m, v.data(), c.data(), s, false);
      });
      const float one = 1.0f, zero = 0.0f;
      const double t_gemv = time_device(s, repeats, [&] {
        // Q column-major m x k: c = Q^T v.
        KNNX_CUBLAS_CHECK(cublasSgemv(ctx.cublas(), CUBLAS_OP_T, int(m), int(k), &one, q.data(),
                                      int(m), v.data(), 1, &zero, c.data(), 1));
      });
      if (cross < 0 && t_warp < t_simple) cross = m;
      rows.push_back({{"m", m}, {"k", k}, {"simple_us", t_simple * 1e3}, {"warp_us", t_warp * 1e3},
                      {"cublas_gemv_us", t_gemv * 1e3}});
    }
    crossover[std::to_string(k)] = cross;
  }
  out["rows"] = rows;
  out["crossover_m_by_k"] = crossover;
  std::cerr << "projection done\n";
  return out;
}

json bench_svd_z(kc::StreamContext& ctx, int repeats, double scale) {
  const cudaStream_t s = ctx.stream();
  const std::int64_t m = std::max<std::int64_t>(1024, static_cast<std::int64_t>(1000000 * scale));
  const std::int64_t n = 256, p = 32;
  auto a = random_device(static_cast<std::size_t>(m * n), 5, s);
  auto v = random_device(static_cast<std::size_t>(n * p), 6, s);
  kc::DeviceBuffer<float> z(static_cast<std::size_t>(n * p), s);
  kc::LinalgSettings base =
      kc::linalg_settings(knnx::detail::dense_knobs(knnx::config()), ctx.device());
  struct Variant {
    const char* name;
    std::int64_t band;
    int streams;
  };
  const Variant variants[] = {{"two_pass", 0, 1},          {"banded_65536", 65536, 1},
                              {"banded_262144", 262144, 1}, {"streams_2_band_65536", 65536, 2},
                              {"streams_4_band_65536", 65536, 4}, {"streams_4_auto_band", 0, 4}};
  json rows = json::array();
  for (const Variant& var : variants) {
    kc::LinalgSettings st = base;
    st.svd_band = var.band;
    st.svd_streams = var.streams;
    const double t = time_wall(repeats, [&] {
      kc::svd_z_step(a.data(), m, n, n, v.data(), p, z.data(), st, ctx);
      ctx.synchronize();
    });
    rows.push_back({{"variant", var.name}, {"band", var.band}, {"streams", var.streams}, {"ms", t}});
  }
  std::cerr << "svd z-step done\n";
  return {{"m", m}, {"n", n}, {"p", p}, {"rows", rows}};
}

// One configuration of the batched-search comparison.
json batched_search_case(int repeats, idx_t n, idx_t nq, int d, int k) {
  std::vector<float> x(static_cast<std::size_t>(n) * d), q(static_cast<std::size_t>(nq) * d);
  fill_uniform(x, 7);
  fill_uniform(q, 8);
  knnx::IndexFlat index(d, knnx::Metric::L2, knnx::Device::cuda(0));
  index.add(n, x.data());
  std::vector<float> dist(static_cast<std::size_t>(nq) * k);
  std::vector<idx_t> lab(dist.size());
  json rows = json::array();
  rows.push_back({{"variant", "one_call"}, {"ms", time_wall(repeats, [&] {
                    index.search(nq, q.data(), k, dist.data(), lab.data());
                  })}});
  for (const idx_t chunk : {idx_t{8192}, idx_t{16384}, idx_t{65536}}) {
    rows.push_back({{"variant", "sync_chunks"}, {"chunk", chunk}, {"ms", time_wall(repeats, [&] {
                      for (idx_t f = 0; f < nq; f += chunk) {
                        const idx_t c = std::min(chunk, nq - f);
                        index.search(c, q.data() + f * d, k, dist.data() + f * k, lab.data() + f * k);
                      }
                    })}});
    knnx::BatchedSearchOptions o;
    o.chunk_queries = chunk;
    rows.push_back({{"variant", "batched_async"}, {"chunk", chunk}, {"ms", time_wall(repeats, [&] {
                      knnx::search_batched_async(index, nq, q.data(), k, dist.data(), lab.data(), {}, o)
                          .wait();
                    })}});
  }
  return {{"n", n}, {"nq", nq}, {"d", d}, {"k", k}, {"rows", rows}};
}

// A compute-bound case (large base) and a transfer-heavy one (small base, many queries).
json bench_batched_search(int repeats, double scale) {
  json out = json::array();
  out.push_back(batched_search_case(repeats, std::max<idx_t>(10000, static_cast<idx_t>(1000000 * scale)),
                                    std::max<idx_t>(1000, static_cast<idx_t>(200000 * scale)), 128, 10));
  out.push_back(batched_search_case(repeats, std::max<idx_t>(1000, static_cast<idx_t>(20000 * scale)),
                                    std::max<idx_t>(1000, static_cast<idx_t>(1000000 * scale)), 128, 10));
  std::cerr << "batched search done\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"knnx GPU linear-algebra benchmark (JSON on stdout)"};
  int repeats = 7;
  double scale = 1.0;
  std::string commit = "unknown";
  std::vector<std::string> parts = {"gemm", "projection", "svd", "search"};
  app.add_option("--repeats", repeats, "timed runs per measurement (median)")->check(CLI::Range(1, 1000));
  app.add_option("--scale", scale, "multiplies the large row counts (smoke runs: 0.01)")
      ->check(CLI::Range(1e-4, 10.0));
  app.add_option("--commit", commit, "commit the binary was built from");
  app.add_option("--parts", parts, "subset of gemm projection svd search");
  CLI11_PARSE(app, argc, argv);
  if (knnx::cuda_device_count() == 0) {
    std::cerr << "no CUDA device\n";
    return 2;
  }
  kc::DeviceGuard guard(0);
  kc::init_device_pool(0);
  kc::StreamContext ctx(0);
  int driver = 0;
  cudaDriverGetVersion(&driver);
  const knnx::GemmTiles tiles = knnx::get_gemm_tiles(0);
  json doc = {{"benchmark", "gpu_linalg"},
              {"device", knnx::cuda_device_name(0)},
              {"driver", driver},
              {"commit", commit},
              {"repeats", repeats},
              {"scale", scale},
              {"gemm_tiles_in_force",
               {{"av", tiles.av}, {"av_narrow", tiles.av_narrow}, {"atb", tiles.atb},
                {"atb_narrow", tiles.atb_narrow}, {"narrow_columns", tiles.narrow_columns},
                {"source", tiles.av_source}}}};
  auto want = [&](const char* p) { return std::find(parts.begin(), parts.end(), p) != parts.end(); };
  if (want("gemm")) doc["gemm"] = bench_gemm(ctx, repeats, scale);
  if (want("projection")) doc["projection"] = bench_projection(ctx, repeats);
  if (want("svd")) doc["svd_z_step"] = bench_svd_z(ctx, repeats, scale);
  if (want("search")) doc["batched_search"] = bench_batched_search(repeats, scale);
  std::cout << doc.dump(2) << "\n";
  return 0;
}
