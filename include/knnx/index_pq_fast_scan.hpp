// knnx/index_pq_fast_scan.hpp — IndexPQFastScan and IndexIVFPQFastScan: product-quantizer
// indexes of 4-bit codes searched by SIMD fast scan, as FAISS's IndexPQFastScan and
// IndexIVFPQFastScan (factory strings "PQ<M>x4fs" and "IVF<n>,PQ<M>x4fs").
//
// Each vector is M / 2 bytes (ProductQuantizer::fast_scan: M even, at most 256), kept in blocks
// of 32 codes whose 4-bit entries are read 32 vectors at a time with byte shuffles. A search
// quantizes each query's lookup table (for the IVF index: each probed list's) to 8 bits, sums M
// entries per code in 16 bits, and returns the distances those quantized tables give (FAISS's
// semantic: approximate in the quantizer and, by at most M / (2a) for the table's scale a, in the
// table; see src/cpu/pq4_fast_scan.hpp). Wrap the index in IndexRefineFlat (",RFlat") for exact
// distances.
//
// Everything else is IndexPQ's and IndexIVFPQ's (training, ids, remove_ids, reconstruct = the
// decoded vector, SearchParams, n_probe, the precomputed L2 table); pq().nbits() is 4 and codes()
// / list_codes() return row-major M / 2-byte codes. CPU only. As in FAISS, IndexIVFPQFastScan has
// range_search (over the quantized tables' distances, those its search returns) and
// IndexPQFastScan has not (NotSupported).
#pragma once

#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"

namespace knnx {

class IndexPQFastScan : public IndexPQ {
 public:
  // M even, dividing dim, at most 256 (InvalidArgument naming the value otherwise).
  IndexPQFastScan(int dim, int M, Metric metric = Metric::L2, Device device = Device::cpu());
};

class IndexIVFPQFastScan : public IndexIVFPQ {
 public:
  // n_lists >= 1; M as IndexPQFastScan's. by_residual: codes of x - c (c: the list's centroid;
  // FAISS's default for this class and factory "IVF<n>,PQ<M>x4fsr"), or of x itself (FAISS's
  // factory "IVF<n>,PQ<M>x4fs": the quantizer trained on the vectors, tables built once per
  // query, reconstruct() = decode(code), the coarse distance not part of a result's distance).
  IndexIVFPQFastScan(int dim, int n_lists, int M, Metric metric = Metric::L2,
                     Device device = Device::cpu(), bool by_residual = true);
};

}  // namespace knnx
