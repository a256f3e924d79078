// IndexPQFastScan and IndexIVFPQFastScan: IndexPQ and IndexIVFPQ over a 4-bit quantizer, whose
// backends keep the codes in the fast-scan layout.
#include "knnx/index_pq_fast_scan.hpp"

#include "core/check.hpp"

namespace knnx {

IndexPQFastScan::IndexPQFastScan(int dim, int M, Metric metric, Device device)
    : IndexPQ(dim, ProductQuantizer::fast_scan((detail::check_dim(dim, "dim"), dim), M), metric,
              device) {}

IndexIVFPQFastScan::IndexIVFPQFastScan(int dim, int n_lists, int M, Metric metric, Device device,
                                       bool by_residual)
    : IndexIVFPQ(dim, n_lists, ProductQuantizer::fast_scan((detail::check_dim(dim, "dim"), dim), M),
                 by_residual, metric, device) {}

}  // namespace knnx
