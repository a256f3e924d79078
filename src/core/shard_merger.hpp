// core/shard_merger.hpp — merging the results of shards on devices, on a device.
//
// IndexShards searches every shard and merges their top-k lists. When a backend can gather the
// shard results onto one device and merge them there (CUDA: NCCL or peer copies, then a merge
// kernel), it offers a ShardMerger (Backend::make_shard_merger); otherwise the shards' results
// are merged on the host (index/shard_merge_host.hpp).
#pragma once

#include <cstdint>
#include <functional>

#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

class ShardMerger {
 public:
  virtual ~ShardMerger() = default;

  // How results travel between devices: "nccl" or "peer".
  virtual const char* gather_method() const = 0;

  // Runs task(i) for every shard i in parallel and returns when all are done, rethrowing the
  // first error.
  using RunAll = std::function<void(const std::function<void(int)>&)>;
  // Searches queries [q0, q0 + nq) on shard `shard`, writing nq x k results to the device arrays
  // distances / labels (on the shard's device).
  using ShardSearch =
      std::function<void(int shard, idx_t q0, idx_t nq, float* distances, std::int64_t* labels)>;

  // Searches nq queries on every shard and writes the merged nq x k results, ordered by
  // (distance, label), into the host arrays distances / labels.
  virtual void search(idx_t nq, int k, Metric metric, const RunAll& run_all,
                      const ShardSearch& shard_search, float* distances,
                      std::int64_t* labels) const = 0;
};

}  // namespace knnx::detail
