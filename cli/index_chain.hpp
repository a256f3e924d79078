// cli/index_chain.hpp — looking through the IndexPreTransform wrappers of an index (what
// index_factory builds for "PCA64,IVF1024,Flat" and read_index loads from such a file): the
// transforms, the index they feed, and one-line descriptions of both for the commands' output.
#pragma once

#include <string>
#include <vector>

#include "knnx/index.hpp"
#include "knnx/index_io.hpp"
#include "knnx/transform.hpp"

namespace knnx::cli {

// The transforms an index is wrapped in (outermost first) and the index they feed (the index
// itself when it has no wrapper).
struct IndexChain {
  std::vector<const VectorTransform*> transforms;
  Index* inner = nullptr;
};
IndexChain index_chain(Index& index);

// "PCA 128->64", "PCA 128->64 whitened", "RandomRotation 64->64", "OPQ 128->64 m=16",
// "L2Normalize 64".
std::string describe_transform(const VectorTransform& t);
std::string describe_transform(const IndexFileTransform& t);
// The descriptions joined with ", " ("" without transforms).
std::string describe_chain(const std::vector<const VectorTransform*>& transforms);

// "IndexFlat", "IndexIVFFlat", "IndexPQ", "IndexIVFPQ" (the class name of an index without
// wrappers).
std::string index_class_name(const Index& inner);

// y = the transforms (at least one) applied in order to n rows of x.
std::vector<float> apply_chain(const std::vector<const VectorTransform*>& transforms, idx_t n,
                               const float* x);

}  // namespace knnx::cli
