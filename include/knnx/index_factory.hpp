// knnx/index_factory.hpp — an empty index built from a FAISS-style description string.
//
// A spec is a comma-separated list of components, in this order:
//
//     [transform ,]* [IVF<n_lists> ,] (Flat | PQ<M>[x<nbits>][fs] | SQ<type>) [, RFlat]
//
// "Flat" is an IndexFlat; "IVF<n_lists>,Flat" an IndexIVFFlat with n_lists inverted lists (e.g.
// "IVF4096,Flat"). "PQ<M>" is an IndexPQ with M sub-quantizers of 8-bit codes ("PQ16",
// "PQ16x8"; FAISS's suffix "np", no polysemous training, is accepted and changes nothing:
// knnx never renumbers codebook entries); "IVF<n_lists>,PQ<M>" an IndexIVFPQ ("IVF4096,PQ32",
// "OPQ32,IVF4096,PQ32"). "PQ<M>x4fs" and "IVF<n_lists>,PQ<M>x4fs" are an IndexPQFastScan and an
// IndexIVFPQFastScan (4-bit codes, knnx/index_pq_fast_scan.hpp; as in FAISS, "IVF<n>,PQ<M>x4fs"
// codes the vectors themselves and "IVF<n>,PQ<M>x4fsr" their residuals). Codes of other widths, and
// 4-bit codes without the fast scan ("PQ32x4"), raise NotSupported naming the component. "SQ8",
// "SQ4", "SQfp16" and "SQbf16" are an IndexScalarQuantizer of that type
// (knnx/scalar_quantizer.hpp); "IVF<n_lists>,SQ8" an IndexIVFScalarQuantizer coding residuals, as
// FAISS's. FAISS's other scalar quantizers ("SQ6", "SQ8_direct", ...) raise NotSupported. A
// trailing "RFlat" wraps the whole index (transforms included) in an IndexRefineFlat
// (knnx/index_refine.hpp) that re-ranks its candidates with the exact vectors
// ("IVF4096,SQ8,RFlat"). Each transform in front of the index wraps it in an IndexPreTransform
// (knnx/transform.hpp), the first component outermost, so vectors pass the transforms from left to
// right before they reach the index:
//
//     PCA<d>      PCA to d dimensions                       "PCA64,IVF1024,Flat"
//     PCAW<d>     PCA with whitening (unit-variance outputs)
//     PCAR<d>     PCA, then a random rotation of its d outputs (two transforms)
//     PCAWR<d>    whitened PCA, then a random rotation
//     OPQ<m>      OPQ rotation for m sub-spaces             "OPQ16,Flat"
//     OPQ<m>_<d>  OPQ with d outputs (m divides d)          "OPQ16_64,Flat"
//     RR<d>       random rotation to d dimensions           "RR128,IVF256,Flat"
//     L2norm      rows scaled to unit L2 norm               "L2norm,Flat"
//
// Spaces around a component are ignored; names are case-sensitive, as in FAISS. A spec that
// does not parse raises InvalidArgument naming the spec and the component that is not
// understood; index_factory also checks every transform's dimensions against the ones it
// receives (d <= its input for PCA, RR and OPQ; m divides OPQ's output) and names the component
// that does not fit. The transforms run on the index's device and are trained by the index's
// train(), before the index itself, on the transformed sample.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/metric.hpp"
#include "knnx/scalar_quantizer.hpp"

namespace knnx {

// One transform component of a spec.
struct TransformSpec {
  enum class Kind { PCA, OPQ, RandomRotation, L2Normalize };
  Kind kind = Kind::PCA;
  std::string text;     // the component as written, e.g. "PCAW64"
  int d_out = 0;        // PCA, RR: as written (>= 1); OPQ: as written, or 0 for its input dim;
                        // L2norm: 0 (the input dim)
  int m = 0;            // OPQ: sub-spaces (>= 1)
  bool whiten = false;  // PCAW, PCAWR
  bool rotate = false;  // PCAR, PCAWR: a random rotation of the PCA output follows
};

// A parsed spec: the transforms (applied in order) and the index they feed.
struct IndexSpec {
  enum class Kind { Flat, IVFFlat, PQ, IVFPQ, SQ, IVFSQ };
  std::vector<TransformSpec> transforms;
  Kind kind = Kind::Flat;
  int n_lists = 0;   // IVFFlat, IVFPQ, IVFSQ: >= 1
  int pq_m = 0;      // PQ, IVFPQ: sub-quantizers (>= 1; index_factory checks that M divides d)
  int pq_nbits = 0;  // PQ, IVFPQ: 8, or 4 with pq_fast_scan
  bool pq_fast_scan = false;  // "PQ<M>x4fs": IndexPQFastScan / IndexIVFPQFastScan
  // IVFPQ with pq_fast_scan: codes of residuals ("x4fsr") or of the vectors ("x4fs"), as FAISS.
  bool pq_by_residual = true;
  ScalarQuantizer::Type sq_type = ScalarQuantizer::Type::QT_8bit;  // SQ, IVFSQ
  bool refine_flat = false;  // ",RFlat": wrapped in an IndexRefineFlat
};

// Parses spec without building anything (InvalidArgument naming it when it is not supported).
// Dimensions are checked by index_factory, which knows the input dimension.
IndexSpec parse_index_spec(std::string_view spec);

// The index spec describes, for dim-dimensional vectors. The transforms' dimensions are checked
// here (InvalidArgument naming the component); dim and device are checked by the index and
// transform constructors (InvalidArgument, NotSupported).
std::unique_ptr<Index> index_factory(int dim, std::string_view spec, Metric metric = Metric::L2,
                                     Device device = Device::cpu());
std::unique_ptr<Index> index_factory(int dim, const IndexSpec& spec, Metric metric = Metric::L2,
                                     Device device = Device::cpu());

}  // namespace knnx
