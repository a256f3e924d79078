// index/sub_indexes.hpp — what IndexShards and IndexReplicas share: the list of sub-indexes (one
// per device), their worker threads, building them from a spec, a factory or an existing index,
// training once and sharing the centroids, and reading a Flat / IVF index's contents.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "core/id_set.hpp"
#include "index/device_workers.hpp"
#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/index_shards.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/metric.hpp"

namespace knnx::detail {

// The contents of an IndexFlat or IndexIVFFlat, in host memory.
struct IndexContents {
  bool ivf = false;
  int n_lists = 0;
  int n_probe = 1;
  bool trained = true;
  KMeansParams kmeans;
  std::vector<float> centroids;  // n_lists x dim, when trained
  std::vector<float> vectors;    // ntotal x dim (IVF: list by list)
  std::vector<idx_t> ids;        // ntotal
};

// NotSupported for index types other than IndexFlat and IndexIVFFlat.
IndexContents read_contents(const Index& index);

// The factory of an empty index shaped like `contents` (IVF: centroids, n_probe and k-means
// settings installed).
SubIndexFactory contents_factory(int dim, Metric metric, const IndexContents& contents);

// index_factory(dim, spec, metric, device) for each device.
SubIndexFactory spec_factory(int dim, std::string_view spec, Metric metric);

class SubIndexes {
 public:
  // `role` ("shard" or "replica") names the sub-indexes in error messages. Checks the device
  // list and every sub-index the factory returns (see IndexShards).
  SubIndexes(int dim, Metric metric, std::vector<Device> devices, const SubIndexFactory& factory,
             const char* role);

  int size() const { return static_cast<int>(subs_.size()); }
  const std::vector<Device>& devices() const { return devices_; }
  Index& operator[](int i) { return *subs_[static_cast<std::size_t>(i)]; }
  const Index& operator[](int i) const { return *subs_[static_cast<std::size_t>(i)]; }
  // Range-checked access (InvalidArgument naming the role).
  Index& at(int i);
  const Index& at(int i) const;
  DeviceWorkers& workers() const { return *workers_; }
  bool is_ivf() const { return ivf_; }
  bool all_cuda() const;

  bool is_trained() const;
  // Trains sub-index 0 on x and gives the others its centroids (IVF; every sub-index must be
  // empty), or trains each (other types).
  void train(idx_t n, const float* x);
  void set_n_probe(int n_probe);
  int n_probe() const;

  // Removes the ids of ids[0..n) that `stored` holds from every sub-index, in parallel, and
  // from `stored`; returns how many each sub-index removed (all zero when none was stored).
  std::vector<idx_t> remove_ids(IdSet& stored, idx_t n, const idx_t* ids);

  // InvalidArgument when p is device memory: multi-device indexes take host arrays.
  static void require_host(const void* p, const char* what);

 private:
  const char* role_;
  bool ivf_ = false;
  std::vector<Device> devices_;
  std::vector<std::unique_ptr<Index>> subs_;
  std::unique_ptr<DeviceWorkers> workers_;
};

}  // namespace knnx::detail
