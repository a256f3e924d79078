// cuda/multi/shard_merge.hpp — the device side of IndexShards: per-shard result buffers on each
// shard's device, the gather onto the first device (NCCL send/receive or peer copies), and the
// merge of the shards' top-k lists there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

// Most shards the device merge folds (each query keeps a cursor per shard); more shards merge on
// the host.
inline constexpr int kMaxDeviceMergeShards = 64;

// Whether this build has NCCL.
bool nccl_available();

class ShardMerger {
 public:
  // shard_devices[i] is the CUDA ordinal of shard i (repeats allowed, at most
  // kMaxDeviceMergeShards shards); results are merged on shard_devices[0]. With use_nccl (which
  // needs nccl_available() and is pointless with one distinct device), shards on other devices
  // send their results in one NCCL group; otherwise each copies them with cudaMemcpyPeerAsync.
  ShardMerger(std::vector<int> shard_devices, bool use_nccl);
  ~ShardMerger();
  ShardMerger(const ShardMerger&) = delete;
  ShardMerger& operator=(const ShardMerger&) = delete;

  bool uses_nccl() const;

  // Runs task(i) for every shard i in parallel (one host thread per shard) and returns when all
  // are done, rethrowing the first error.
  using RunAll = std::function<void(const std::function<void(int)>&)>;
  // Searches queries [q0, q0 + nq) on shard `shard`, writing nq x k results to the device arrays
  // distances / labels (on the shard's device).
  using ShardSearch =
      std::function<void(int shard, idx_t q0, idx_t nq, float* distances, std::int64_t* labels)>;

  // Searches nq queries on every shard and writes the merged nq x k results, ordered by
  // (distance, label), into the host arrays distances / labels. Queries are processed in chunks
  // so the gathered results stay within a fixed budget of device memory.
  void search(idx_t nq, int k, Metric metric, const RunAll& run_all,
              const ShardSearch& shard_search, float* distances, std::int64_t* labels) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace knnx::cuda
