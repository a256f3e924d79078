#include "index_chain.hpp"

#include <fmt/format.h>

#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/index_scalar_quantizer.hpp"

namespace knnx::cli {
namespace {

std::string describe(const std::string& type, int d_in, int d_out, bool whiten, int m,
                     bool trained) {
  std::string out = type == "L2Normalize" ? fmt::format("{} {}", type, d_in)
                                          : fmt::format("{} {}->{}", type, d_in, d_out);
  if (whiten) out += " whitened";
  if (m > 0) out += fmt::format(" m={}", m);
  if (!trained) out += " (not trained)";
  return out;
}

}  // namespace

IndexChain index_chain(Index& index) {
  IndexChain chain;
  Index* current = &index;
  while (auto* pre = dynamic_cast<IndexPreTransform*>(current)) {
    chain.transforms.push_back(&pre->transform());
    current = &pre->index();
  }
  chain.inner = current;
  return chain;
}

std::string describe_transform(const VectorTransform& t) {
  std::string type = "transform";
  bool whiten = false;
  int m = 0;
  if (const auto* pca = dynamic_cast<const PCA*>(&t)) {
    type = "PCA";
    whiten = pca->params().whiten;
  } else if (dynamic_cast<const RandomRotation*>(&t) != nullptr) {
    type = "RandomRotation";
  } else if (const auto* opq = dynamic_cast<const OPQ*>(&t)) {
    type = "OPQ";
    m = opq->m();
  } else if (dynamic_cast<const L2Normalize*>(&t) != nullptr) {
    type = "L2Normalize";
  }
  return describe(type, t.d_in(), t.d_out(), whiten, m, t.is_trained());
}

std::string describe_transform(const IndexFileTransform& t) {
  return describe(t.type, t.d_in, t.d_out, t.whiten, t.m, t.trained);
}

std::string describe_chain(const std::vector<const VectorTransform*>& transforms) {
  std::string out;
  for (const VectorTransform* t : transforms) {
    if (!out.empty()) out += ", ";
    out += describe_transform(*t);
  }
  return out;
}

std::string index_class_name(const Index& inner) {
  if (dynamic_cast<const IndexIVFFlat*>(&inner) != nullptr) return "IndexIVFFlat";
  if (dynamic_cast<const IndexIVFScalarQuantizer*>(&inner) != nullptr) {
    return "IndexIVFScalarQuantizer";
  }
  if (dynamic_cast<const IndexScalarQuantizer*>(&inner) != nullptr) return "IndexScalarQuantizer";
  if (dynamic_cast<const IndexIVFPQ*>(&inner) != nullptr) return "IndexIVFPQ";
  if (dynamic_cast<const IndexPQ*>(&inner) != nullptr) return "IndexPQ";
  if (dynamic_cast<const IndexFlat*>(&inner) != nullptr) return "IndexFlat";
  return "Index";
}

std::vector<float> apply_chain(const std::vector<const VectorTransform*>& transforms, idx_t n,
                               const float* x) {
  std::vector<float> y;
  const float* in = x;
  for (const VectorTransform* t : transforms) {
    y = t->apply(n, in);
    in = y.data();
  }
  return y;
}

}  // namespace knnx::cli
