// knnx/index_replicas.hpp — IndexReplicas: the same index on several devices, with each search's
// queries split among them, as FAISS's IndexReplicas.
//
// Every replica is an ordinary index (IndexFlat or IndexIVFFlat) holding all the vectors, one per
// entry of the device list (a device may repeat). add / add_with_ids / remove_ids / reset go to
// every replica (in parallel, with the same ids); train runs once, on the first replica, and IVF
// centroids are copied to the others; a search cuts its queries into one contiguous block per
// replica, searches the blocks at the same time (one host thread per replica) and writes each
// block's results in place, so they are exactly the single index's results. Searches take host
// arrays (device pointers: InvalidArgument).
//
// Saving: write_index(*replicas.merged(), path) writes the single index (replica 0's contents);
// IndexReplicas(const Index&, devices) replicates a loaded one.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/index_shards.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx {

class IndexReplicas : public Index {
 public:
  // One replica per device, each index_factory(dim, spec, metric, device). Errors as
  // IndexShards.
  IndexReplicas(int dim, std::string_view spec, std::vector<Device> devices,
                Metric metric = Metric::L2);
  // One replica per device, each factory(device); the same checks as IndexShards.
  IndexReplicas(int dim, Metric metric, std::vector<Device> devices,
                const SubIndexFactory& factory);
  // Copies an existing IndexFlat or IndexIVFFlat onto every device (IVF: centroids, n_probe and
  // k-means settings too). add() then numbers from one past the largest stored id.
  IndexReplicas(const Index& source, std::vector<Device> devices);
  ~IndexReplicas() override;

  Device device() const override;
  idx_t ntotal() const override;
  bool is_trained() const override;

  int n_replicas() const;
  const std::vector<Device>& devices() const;
  // Replica i, for its settings and read access (modifying its contents directly desynchronises
  // the replicas: don't).
  Index& replica(int i);
  const Index& replica(int i) const;

  // IVF replicas: n_probe of every replica; NotSupported for Flat.
  void set_n_probe(int n_probe);
  int n_probe() const;

  // A copy of the index on `device` (replica 0's vectors, ids and settings).
  std::unique_ptr<Index> merged(Device device = Device::cpu()) const;

 protected:
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  // The params go to the held indexes, which check them.
  void check_search_params(const SearchParams& params) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  void do_reconstruct(idx_t id, float* out) const override;
  void do_reset() override;
  void check_new_ids(idx_t n, const idx_t* ids) const override;
  idx_t next_sequential_id() const override;
  std::function<void()> next_id_restorer() override;
  void check_finite(idx_t n, const float* x, const char* what) const override;

 private:
  std::unique_ptr<detail::SubIndexes> subs_;
  std::unique_ptr<detail::IdSet> ids_;
};

}  // namespace knnx
