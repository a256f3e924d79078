// core/dense_knobs.hpp — the settings a dense step runs with (the transforms' products and
// normalisation, knnx/linalg.hpp's projections, QR and SVD), as the backends see them.
//
// The caller (the index layer) takes them from the process defaults (knnx::config()) once per
// call and passes them down with the step; backends never read config(), so a step's tiles and
// scratch are fixed when it starts.
#pragma once

#include <cstdint>
#include <string>

#include "knnx/config.hpp"

namespace knnx::detail {

struct DenseKnobs {
  // Device scratch of one step; 0 = the default share of the device's free memory, which the
  // backend measures when the step starts (core/workspace.hpp).
  std::int64_t workspace_bytes = 0;
  std::string gemm_tile_av = "auto";   // tiled GEMM C = A V: "auto" or a BMxBN tile
  std::string gemm_tile_atb = "auto";  // tiled GEMM C = A^T B
  std::string qr_dot = "auto";         // projection c = Q^T v: auto, simple or warp
  int qr_warp_min_rows = 64;
  int svd_band = 0;  // rows of A per band of the SVD step (0: two full passes)
  int svd_streams = 1;
  bool sync_check = false;  // debugging: synchronise after every launch
};

// The dense knobs of the configuration `config`.
inline DenseKnobs dense_knobs(const Config& config) {
  return DenseKnobs{std::int64_t{config.gpu_workspace_mb} << 20,
                    config.gemm_tile_av,
                    config.gemm_tile_atb,
                    config.qr_dot,
                    config.qr_warp_min_rows,
                    config.svd_band,
                    config.svd_streams,
                    config.sync_check};
}

// The dense knobs of the process defaults in force (config()).
inline DenseKnobs default_dense_knobs() { return dense_knobs(config()); }

}  // namespace knnx::detail
