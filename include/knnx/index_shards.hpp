// knnx/index_shards.hpp — IndexShards: one index split over several devices, searched on all of
// them at once, as FAISS's IndexShards.
//
// The shards are ordinary indexes (IndexFlat or IndexIVFFlat), one per entry of the device list;
// a device may appear more than once ({cpu, cpu} or {cuda:0, cuda:0} give two shards on one
// device). Every Index method works as on the single index:
//  - add / add_with_ids: ids are global (numbered by the IndexShards, as a single index numbers
//    them); each call splits its vectors into contiguous blocks that bring the shards as close to
//    equal size as possible (the least-full shards get the most), and the shards add their blocks
//    in parallel.
//  - search: every shard searches all queries at the same time, each on a host thread of its
//    own; the per-shard top-k lists are merged by (distance, label), so equal distances are
//    decided by the smaller label. When every shard is on a CUDA device, the shard results are
//    gathered onto the first device (NCCL send/receive or peer copies) and merged there by a
//    kernel; otherwise they are merged on the host.
//  - train: IVF trains once, on the first shard, and the other shards receive its centroids.
//  - remove_ids, reset, reconstruct: forwarded to the shards.
// Distances are exactly the single index's, slot by slot (every pair's distance is computed as
// the single index computes it). Labels are too, except among candidates at exactly equal
// distance: the single index orders those by its row or list position (and a GPU index keeps an
// arbitrary subset of those tied at the k-th distance), the shards by label. With plain add()
// into Flat shards row order is label order, so the results are identical.
//
// Searches take host arrays (queries, distances, labels); device pointers are refused
// (InvalidArgument): shards on several devices need the queries on each of them.
//
// Saving: write_index(*shards.merged(), path) writes the equivalent single index; a saved index
// is split over devices with the IndexShards(const Index&, devices) constructor (see
// docs/scaling.md).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx {

namespace detail {
class SubIndexes;
class IdSet;
}  // namespace detail

// Builds the empty sub-index of one device (used by IndexShards and IndexReplicas).
using SubIndexFactory = std::function<std::unique_ptr<Index>(Device device)>;

// How GPU shard results reach the first device before the merge.
enum class ShardGather {
  Auto,  // NCCL when knnx was built with it and the shards span >= 2 CUDA devices, else Peer
  Peer,  // cudaMemcpyPeerAsync from each shard's device
  Nccl,  // one NCCL group of ncclSend / ncclRecv (NotSupported when built without NCCL)
};

struct ShardOptions {
  ShardGather gather = ShardGather::Auto;
};

// Whether this build of knnx can gather shard results with NCCL.
bool nccl_compiled();

class IndexShards : public Index {
 public:
  // One shard per device, each index_factory(dim, spec, metric, device) ("Flat", "IVF<n>,Flat").
  // InvalidArgument for an empty device list or a bad spec; NotSupported / InvalidArgument for
  // a device this build or machine lacks.
  IndexShards(int dim, std::string_view spec, std::vector<Device> devices,
              Metric metric = Metric::L2, ShardOptions options = {});
  // One shard per device, each factory(device). Every sub-index must be empty and non-null, of
  // one type, with this dim and metric, and on the device it was made for (InvalidArgument).
  IndexShards(int dim, Metric metric, std::vector<Device> devices, const SubIndexFactory& factory,
              ShardOptions options = {});
  // Splits an existing IndexFlat or IndexIVFFlat (any device) over devices: its vectors and ids
  // go to the shards in balanced contiguous blocks (IVF: its centroids, n_probe and k-means
  // settings are copied, and each vector is re-assigned to its nearest centroid on its shard).
  // add() then numbers from one past the largest stored id. NotSupported for other types.
  IndexShards(const Index& source, std::vector<Device> devices, ShardOptions options = {});
  ~IndexShards() override;

  // The first shard's device (where GPU results are merged).
  Device device() const override;
  idx_t ntotal() const override;
  bool is_trained() const override;

  int n_shards() const;
  const std::vector<Device>& devices() const;
  // Shard i (0 <= i < n_shards(), InvalidArgument otherwise), for its settings and read access.
  // Adding to or removing from a shard directly bypasses the global ids: don't.
  Index& shard(int i);
  const Index& shard(int i) const;
  // Vectors per shard.
  std::vector<idx_t> shard_sizes() const;

  // IVF shards: sets n_probe on every shard (as IndexIVFFlat::set_n_probe); n_probe() is the
  // value in force. NotSupported for Flat shards.
  void set_n_probe(int n_probe);
  int n_probe() const;

  // "host", "peer" or "nccl": how the results of a search are brought together.
  const char* gather_method() const;

  // The equivalent single index on `device` (all vectors with their ids; IVF with the shared
  // centroids and settings), e.g. for write_index.
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
  struct GpuMerge;
  void init_gather(ShardOptions options);

  std::unique_ptr<detail::SubIndexes> subs_;
  std::unique_ptr<detail::IdSet> ids_;
  std::unique_ptr<GpuMerge> gpu_;  // set when every shard is on a CUDA device
};

}  // namespace knnx
