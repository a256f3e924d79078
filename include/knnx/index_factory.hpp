// knnx/index_factory.hpp — an empty index built from a FAISS-style description string.
//
// Supported specs: "Flat" (IndexFlat) and "IVF<n_lists>,Flat" (IndexIVFFlat with n_lists
// inverted lists, e.g. "IVF4096,Flat"). Components are separated by commas; spaces around a
// component are ignored; names are case-sensitive, as in FAISS. Any other spec raises
// InvalidArgument naming the spec and the component that is not understood.
#pragma once

#include <memory>
#include <string_view>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/metric.hpp"

namespace knnx {

// A parsed spec.
struct IndexSpec {
  enum class Kind { Flat, IVFFlat };
  Kind kind = Kind::Flat;
  int n_lists = 0;  // IVFFlat: >= 1
};

// Parses spec without building anything (InvalidArgument naming it when it is not supported).
IndexSpec parse_index_spec(std::string_view spec);

// The index spec describes, for dim-dimensional vectors; dim and device are checked by the
// index constructors (InvalidArgument, NotSupported).
std::unique_ptr<Index> index_factory(int dim, std::string_view spec, Metric metric = Metric::L2,
                                     Device device = Device::cpu());
std::unique_ptr<Index> index_factory(int dim, const IndexSpec& spec, Metric metric = Metric::L2,
                                     Device device = Device::cpu());

}  // namespace knnx
