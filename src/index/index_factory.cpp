// index_factory / parse_index_spec: "[transform,]*[IVF<n>,](Flat|PQ<M>[x<nbits>][fs]|SQ<type>)"
// with the transforms PCA, PCAW, PCAR, PCAWR, OPQ, RR and L2norm in front of IndexFlat,
// IndexIVFFlat, IndexPQ, IndexIVFPQ, IndexPQFastScan, IndexIVFPQFastScan, IndexScalarQuantizer or
// IndexIVFScalarQuantizer.
#include "knnx/index_factory.hpp"

#include <fmt/format.h>

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/index_pq_fast_scan.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/transform.hpp"

namespace knnx {
namespace {

constexpr std::string_view kSupported =
    "supported specs are \"[transform,]...[IVF<n_lists>,](Flat|PQ<M>[x8]|PQ<M>x4fs|SQ<type>)"
    "[,RFlat]\" with the "
    "transforms PCA<d>, PCAW<d>, PCAR<d>, PCAWR<d>, OPQ<m>[_<d>], RR<d> and L2norm, e.g. "
    "\"Flat\", \"IVF<n_lists>,Flat\", \"PCA64,IVF1024,Flat\", \"PQ16\", \"IVF4096,PQ32\", "
    "\"IVF4096,PQ32x4fs\", "
    "\"OPQ32,IVF4096,PQ32\", \"SQ8\", \"IVF1024,SQ8\" (SQ8, SQ4, SQfp16, SQbf16), "
    "\"IVF1024,SQ8,RFlat\"";

[[noreturn]] void reject(std::string_view spec, const std::string& why) {
  throw InvalidArgument(
      fmt::format("index_factory: unsupported index spec \"{}\": {}; {}", spec, why, kSupported));
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_components(std::string_view spec) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = spec.find(',', start);
    parts.push_back(
        trim(spec.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parts;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The decimal number `digits` of component `part`, in [1, INT_MAX]; `what` names it in errors
// ("the number of lists") and `example` shows the form ("IVF1024").
int parse_count(std::string_view spec, std::string_view part, std::string_view digits,
                std::string_view what, std::string_view example) {
  if (digits.empty()) reject(spec, fmt::format("'{}' needs {}, as in {}", part, what, example));
  long long n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      reject(spec, fmt::format("'{}': {} must be a decimal integer", part, what));
    }
    n = n * 10 + (c - '0');
    if (n > std::numeric_limits<int>::max()) {
      reject(spec, fmt::format("'{}': {} must be at most {}", part, what,
                               std::numeric_limits<int>::max()));
    }
  }
  if (n < 1) reject(spec, fmt::format("'{}': {} must be >= 1", part, what));
  return static_cast<int>(n);
}

// A transform component, or nothing when part names none.
std::optional<TransformSpec> parse_transform(std::string_view spec, std::string_view part) {
  TransformSpec t;
  t.text = std::string(part);
  if (part == "L2norm") {
    t.kind = TransformSpec::Kind::L2Normalize;
    return t;
  }
  if (starts_with(part, "PCA")) {
    std::string_view rest = part.substr(3);
    if (starts_with(rest, "W")) {
      t.whiten = true;
      rest.remove_prefix(1);
    }
    if (starts_with(rest, "R")) {
      t.rotate = true;
      rest.remove_prefix(1);
    }
    t.kind = TransformSpec::Kind::PCA;
    t.d_out = parse_count(spec, part, rest, "the output dimension", "PCA64");
    return t;
  }
  if (starts_with(part, "RR")) {
    t.kind = TransformSpec::Kind::RandomRotation;
    t.d_out = parse_count(spec, part, part.substr(2), "the output dimension", "RR128");
    return t;
  }
  if (starts_with(part, "OPQ")) {
    t.kind = TransformSpec::Kind::OPQ;
    const std::string_view rest = part.substr(3);
    const std::size_t underscore = rest.find('_');
    t.m = parse_count(spec, part, rest.substr(0, underscore), "the number of sub-spaces", "OPQ16");
    if (underscore != std::string_view::npos) {
      t.d_out =
          parse_count(spec, part, rest.substr(underscore + 1), "the output dimension", "OPQ16_64");
      if (t.d_out % t.m != 0) {
        reject(spec, fmt::format("'{}': the {} sub-spaces must divide the output dimension {}",
                                 part, t.m, t.d_out));
      }
    }
    return t;
  }
  return std::nullopt;
}

// Whether storage is a product quantizer "PQ<M>[x<nbits>][np]"; if so its M and nbits go into out
// (kind PQ). 8-bit codes, and 4-bit codes in the fast-scan layout ("PQ32x4fs"); other widths and
// 4-bit codes without the fast scan ("PQ32x4") raise NotSupported naming the component.
bool parse_pq_storage(std::string_view spec, std::string_view storage, IndexSpec& out) {
  if (!starts_with(storage, "PQ")) return false;
  std::string_view rest = storage.substr(2);
  // FAISS's "np" (no polysemous training, which only renumbers a codebook's entries; knnx
  // never runs it) changes nothing here.
  if (rest.size() > 2 && rest.substr(rest.size() - 2) == "np") rest.remove_suffix(2);
  const std::size_t x = rest.find('x');
  out.kind = IndexSpec::Kind::PQ;
  out.pq_m = parse_count(spec, storage, rest.substr(0, x), "the number of sub-quantizers", "PQ16");
  out.pq_nbits = 8;
  if (x == std::string_view::npos) return true;
  const std::string_view bits = rest.substr(x + 1);
  if (bits == "8") return true;
  if (bits == "4fs" || bits == "4fsr") {
    out.pq_nbits = 4;
    out.pq_fast_scan = true;
    out.pq_by_residual = bits == "4fsr";  // FAISS's factory: "fs" alone codes the vectors
    return true;
  }
  if (bits == "4") {
    throw NotSupported(fmt::format(
        "index_factory: \"{}\": '{}' asks for 4-bit codes scanned with float tables, which knnx "
        "does not implement; use the fast-scan layout ('PQ{}x4fs') or 8-bit codes ('PQ{}')",
        spec, storage, out.pq_m, out.pq_m));
  }
  const int nbits = parse_count(spec, storage, bits, "the bits per code", "PQ16x8");
  throw NotSupported(fmt::format(
      "index_factory: \"{}\": '{}' asks for {}-bit codes; knnx implements 8-bit codes only "
      "('PQ{}x8')",
      spec, storage, nbits, out.pq_m));
}

// Whether storage is a scalar quantizer "SQ<type>"; if so its type goes into out (kind SQ).
// FAISS's types that knnx lacks raise NotSupported naming the component.
bool parse_sq_storage(std::string_view spec, std::string_view storage, IndexSpec& out) {
  if (!starts_with(storage, "SQ")) return false;
  using Type = ScalarQuantizer::Type;
  for (Type type : {Type::QT_8bit, Type::QT_4bit, Type::QT_fp16, Type::QT_bf16}) {
    if (storage == ScalarQuantizer::type_name(type)) {
      out.kind = IndexSpec::Kind::SQ;
      out.sq_type = type;
      return true;
    }
  }
  throw NotSupported(fmt::format(
      "index_factory: \"{}\": '{}' is a scalar quantizer knnx does not implement; knnx has SQ8, "
      "SQ4, SQfp16 and SQbf16",
      spec, storage));
}

[[noreturn]] void reject_dims(const TransformSpec& t, int position, const std::string& why) {
  throw InvalidArgument(
      fmt::format("index_factory: transform {} '{}' {}", position + 1, t.text, why));
}

// The transforms of t on d_in-dimensional inputs (two for PCAR), after checking its dimensions.
std::vector<std::shared_ptr<VectorTransform>> make_transforms(const TransformSpec& t, int position,
                                                              int d_in, Device device) {
  std::vector<std::shared_ptr<VectorTransform>> out;
  switch (t.kind) {
    case TransformSpec::Kind::L2Normalize:
      out.push_back(std::make_shared<L2Normalize>(d_in, device));
      break;
    case TransformSpec::Kind::PCA: {
      if (t.d_out > d_in) {
        reject_dims(t, position,
                    fmt::format("reduces {}-dimensional inputs to {} dimensions; "
                                "its dimension must be <= {}",
                                d_in, t.d_out, d_in));
      }
      PcaParams p;
      p.whiten = t.whiten;
      p.device = device;
      out.push_back(std::make_shared<PCA>(d_in, t.d_out, p));
      if (t.rotate) out.push_back(std::make_shared<RandomRotation>(t.d_out, 1234, device));
      break;
    }
    case TransformSpec::Kind::RandomRotation:
      if (t.d_out > d_in) {
        reject_dims(t, position,
                    fmt::format("maps {}-dimensional inputs to {} dimensions; its "
                                "dimension must be <= {}",
                                d_in, t.d_out, d_in));
      }
      out.push_back(std::make_shared<RandomRotation>(d_in, t.d_out, 1234, device));
      break;
    case TransformSpec::Kind::OPQ: {
      const int d_out = t.d_out == 0 ? d_in : t.d_out;
      if (d_out > d_in) {
        reject_dims(t, position,
                    fmt::format("maps {}-dimensional inputs to {} dimensions; its "
                                "output dimension must be <= {}",
                                d_in, d_out, d_in));
      }
      if (d_out % t.m != 0) {
        reject_dims(t, position,
                    fmt::format("splits {} dimensions into {} sub-spaces; the number "
                                "of sub-spaces must divide the dimension",
                                d_out, t.m));
      }
      OpqParams p;
      p.device = device;
      out.push_back(std::make_shared<OPQ>(d_in, d_out, t.m, p));
      break;
    }
  }
  return out;
}

}  // namespace

IndexSpec parse_index_spec(std::string_view spec) {
  std::vector<std::string_view> parts = split_components(spec);
  for (std::string_view p : parts) {
    if (p.empty()) reject(spec, "it has an empty component");
  }
  IndexSpec out;
  if (parts.size() > 1 && parts.back() == "RFlat") {
    out.refine_flat = true;
    parts.pop_back();
  }
  const std::string_view storage = parts.back();
  const bool pq = parse_pq_storage(spec, storage, out);
  const bool sq = !pq && parse_sq_storage(spec, storage, out);
  if (!pq && !sq && storage != "Flat") {
    reject(spec, fmt::format("the last component must be the storage 'Flat', got '{}' (or "
                             "product-quantizer codes, 'PQ<M>', or scalar-quantizer codes, "
                             "'SQ8')",
                             storage));
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string_view part = parts[i];
    if (std::optional<TransformSpec> t = parse_transform(spec, part)) {
      if (out.n_lists != 0) {
        reject(spec, fmt::format("the transform '{}' must come before the coarse quantizer '{}'",
                                 part, parts[i - 1]));
      }
      out.transforms.push_back(std::move(*t));
    } else if (starts_with(part, "IVF")) {
      if (out.n_lists != 0) {
        reject(spec, fmt::format("'{}' is a second coarse quantizer; knnx builds one", part));
      }
      out.kind = pq   ? IndexSpec::Kind::IVFPQ
                 : sq ? IndexSpec::Kind::IVFSQ
                      : IndexSpec::Kind::IVFFlat;
      out.n_lists = parse_count(spec, part, part.substr(3), "the number of lists", "IVF1024");
    } else {
      reject(spec, fmt::format("'{}' is not a transform or coarse quantizer knnx knows", part));
    }
  }
  return out;
}

std::unique_ptr<Index> index_factory(int dim, const IndexSpec& spec, Metric metric, Device device) {
  std::vector<std::shared_ptr<VectorTransform>> chain;
  int d = dim;
  if (!spec.transforms.empty()) detail::check_dim(dim, "dim");
  for (std::size_t i = 0; i < spec.transforms.size(); ++i) {
    for (auto& t : make_transforms(spec.transforms[i], static_cast<int>(i), d, device)) {
      d = t->d_out();
      chain.push_back(std::move(t));
    }
  }
  if ((spec.kind == IndexSpec::Kind::PQ || spec.kind == IndexSpec::Kind::IVFPQ) &&
      d % spec.pq_m != 0) {
    throw InvalidArgument(fmt::format(
        "index_factory: PQ{} splits {}-dimensional vectors into {} sub-quantizers; M must "
        "divide the dimension",
        spec.pq_m, d, spec.pq_m));
  }
  std::unique_ptr<Index> index;
  switch (spec.kind) {
    case IndexSpec::Kind::IVFFlat:
      index = std::make_unique<IndexIVFFlat>(d, spec.n_lists, metric, device);
      break;
    case IndexSpec::Kind::PQ:
      if (spec.pq_fast_scan) {
        index = std::make_unique<IndexPQFastScan>(d, spec.pq_m, metric, device);
      } else {
        index = std::make_unique<IndexPQ>(d, spec.pq_m, spec.pq_nbits, metric, device);
      }
      break;
    case IndexSpec::Kind::IVFPQ:
      if (spec.pq_fast_scan) {
        index = std::make_unique<IndexIVFPQFastScan>(d, spec.n_lists, spec.pq_m, metric, device,
                                                     spec.pq_by_residual);
      } else {
        index =
            std::make_unique<IndexIVFPQ>(d, spec.n_lists, spec.pq_m, spec.pq_nbits, metric, device);
      }
      break;
    case IndexSpec::Kind::SQ:
      index = std::make_unique<IndexScalarQuantizer>(d, spec.sq_type, metric, device);
      break;
    case IndexSpec::Kind::IVFSQ:
      index = std::make_unique<IndexIVFScalarQuantizer>(d, spec.n_lists, spec.sq_type, metric, true,
                                                        device);
      break;
    case IndexSpec::Kind::Flat:
      index = std::make_unique<IndexFlat>(d, metric, device);
      break;
  }
  for (auto t = chain.rbegin(); t != chain.rend(); ++t) {
    index = std::make_unique<IndexPreTransform>(std::move(*t), std::move(index));
  }
  if (spec.refine_flat) index = std::make_unique<IndexRefineFlat>(std::move(index));
  return index;
}

std::unique_ptr<Index> index_factory(int dim, std::string_view spec, Metric metric, Device device) {
  return index_factory(dim, parse_index_spec(spec), metric, device);
}

}  // namespace knnx
