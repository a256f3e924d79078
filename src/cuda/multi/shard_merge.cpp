// IndexShards on CUDA devices: each shard writes its top-k into device memory (shards on the
// first device straight into the gather buffer), the other devices' results travel to the first
// device (one NCCL group, or a peer copy issued by each shard's own thread right after its
// search), and one kernel merges them there before a single copy to the host.
#include "cuda/multi/shard_merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "core/check.hpp"
#include "cuda/multi/shard_merge_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"
#ifdef KNNX_WITH_NCCL
#include <nccl.h>
#endif

namespace knnx::cuda {
namespace {

// Device memory the gathered results of one chunk of queries may take on the first device.
constexpr std::size_t kGatherBudgetBytes = std::size_t{256} << 20;

#ifdef KNNX_WITH_NCCL
void check_nccl(ncclResult_t status, const char* what) {
  if (status != ncclSuccess) {
    throw CudaError(fmt::format("{} failed: {}", what, ncclGetErrorString(status)));
  }
}
#endif

}  // namespace

bool nccl_available() {
#ifdef KNNX_WITH_NCCL
  return true;
#else
  return false;
#endif
}

struct ShardMerger::Impl {
  std::vector<int> devices;                        // per shard
  std::vector<int> distinct;                       // distinct ordinals, the merge device first
  std::vector<int> rank;                           // per shard: its device's position in `distinct`
  std::vector<std::unique_ptr<StreamPool>> pools;  // per distinct device
  bool nccl = false;
#ifdef KNNX_WITH_NCCL
  // One communicator and one stream per distinct device, made on the first search; groups are
  // issued one at a time (concurrent searches take turns for the gather only).
  mutable std::mutex nccl_mutex;
  mutable std::vector<ncclComm_t> comms;
  mutable std::vector<cudaStream_t> nccl_streams;

  void init_nccl() const {
    if (!comms.empty()) return;
    std::vector<ncclComm_t> made(distinct.size());
    check_nccl(ncclCommInitAll(made.data(), static_cast<int>(distinct.size()), distinct.data()),
               "ncclCommInitAll");
    std::vector<cudaStream_t> streams(distinct.size(), nullptr);
    try {
      for (std::size_t r = 0; r < distinct.size(); ++r) {
        DeviceGuard guard(distinct[r]);
        KNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[r], cudaStreamNonBlocking));
      }
    } catch (...) {
      for (std::size_t r = 0; r < distinct.size(); ++r) {
        if (streams[r]) {
          DeviceGuard guard(distinct[r]);
          cudaStreamDestroy(streams[r]);
        }
        ncclCommDestroy(made[r]);
      }
      throw;
    }
    comms = std::move(made);
    nccl_streams = std::move(streams);
  }

  ~Impl() {
    for (std::size_t r = 0; r < comms.size(); ++r) {
      DeviceGuard guard(distinct[r]);
      cudaStreamSynchronize(nccl_streams[r]);
      cudaStreamDestroy(nccl_streams[r]);
      ncclCommDestroy(comms[r]);
    }
  }
#endif

  StreamPool& pool_of(int shard) const { return *pools[static_cast<std::size_t>(rank[shard])]; }
};

ShardMerger::ShardMerger(std::vector<int> shard_devices, bool use_nccl)
    : impl_(std::make_unique<Impl>()) {
  detail::require(
      !shard_devices.empty() && static_cast<int>(shard_devices.size()) <= kMaxDeviceMergeShards,
      "the device merge takes 1 to {} shards, got {}", kMaxDeviceMergeShards, shard_devices.size());
  if (use_nccl && !nccl_available()) {
    throw NotSupported("NCCL gather requested, but this build of knnx has no NCCL");
  }
  Impl& m = *impl_;
  m.devices = std::move(shard_devices);
  for (const int d : m.devices) {
    auto it = std::find(m.distinct.begin(), m.distinct.end(), d);
    if (it == m.distinct.end()) {
      m.distinct.push_back(d);
      it = m.distinct.end() - 1;
    }
    m.rank.push_back(static_cast<int>(it - m.distinct.begin()));
  }
  for (const int d : m.distinct) {
    init_device_pool(d);
    m.pools.push_back(std::make_unique<StreamPool>(d));
  }
  m.nccl = use_nccl && m.distinct.size() >= 2;
}

ShardMerger::~ShardMerger() = default;

bool ShardMerger::uses_nccl() const { return impl_->nccl; }

void ShardMerger::search(idx_t nq, int k, Metric metric, const RunAll& run_all,
                         const ShardSearch& shard_search, float* distances,
                         std::int64_t* labels) const {
  const Impl& m = *impl_;
  const int n_shards = static_cast<int>(m.devices.size());
  const int d0 = m.distinct.front();
  const bool sync = config().sync_check;
  const std::size_t per_query = static_cast<std::size_t>(n_shards) * k * 12 + k * 12;
  const idx_t chunk =
      std::max<idx_t>(1, std::min<idx_t>(nq, static_cast<idx_t>(kGatherBudgetBytes / per_query)));

  DeviceGuard guard(d0);
  auto lease0 = m.pools.front()->acquire();
  const cudaStream_t s0 = lease0->stream();
  for (idx_t q0 = 0; q0 < nq; q0 += chunk) {
    const idx_t bq = std::min(chunk, nq - q0);
    const std::size_t slot = static_cast<std::size_t>(bq) * k;
    DeviceBuffer<float> gathered_d(slot * n_shards, s0);
    DeviceBuffer<std::int64_t> gathered_l(slot * n_shards, s0);
    DeviceBuffer<float> out_d(slot, s0);
    DeviceBuffer<std::int64_t> out_l(slot, s0);
    lease0->synchronize();  // the buffers exist before other streams write them

    // Results of shards off the merge device, kept until the gather is done.
    std::vector<DeviceBuffer<float>> own_d(static_cast<std::size_t>(n_shards));
    std::vector<DeviceBuffer<std::int64_t>> own_l(static_cast<std::size_t>(n_shards));
    auto release_own = [&] {
      for (int i = 0; i < n_shards; ++i) {
        if (!own_d[static_cast<std::size_t>(i)].data()) continue;
        DeviceGuard g(m.devices[static_cast<std::size_t>(i)]);
        own_d[static_cast<std::size_t>(i)].release();
        own_l[static_cast<std::size_t>(i)].release();
      }
    };
    try {
      run_all([&](int i) {
        float* gd = gathered_d.data() + slot * i;
        std::int64_t* gl = gathered_l.data() + slot * i;
        const int dev = m.devices[static_cast<std::size_t>(i)];
        if (dev == d0) {
          shard_search(i, q0, bq, gd, gl);
          return;
        }
        DeviceGuard g(dev);
        auto lease = m.pool_of(i).acquire();
        const cudaStream_t s = lease->stream();
        own_d[static_cast<std::size_t>(i)] = DeviceBuffer<float>(slot, s);
        own_l[static_cast<std::size_t>(i)] = DeviceBuffer<std::int64_t>(slot, s);
        lease->synchronize();
        float* d = own_d[static_cast<std::size_t>(i)].data();
        std::int64_t* l = own_l[static_cast<std::size_t>(i)].data();
        shard_search(i, q0, bq, d, l);  // synchronises before returning
        if (!m.nccl) {
          KNNX_CUDA_CHECK(cudaMemcpyPeerAsync(gd, d0, d, dev, slot * sizeof(float), s));
          KNNX_CUDA_CHECK(cudaMemcpyPeerAsync(gl, d0, l, dev, slot * sizeof(std::int64_t), s));
          lease->synchronize();
        }
      });
#ifdef KNNX_WITH_NCCL
      if (m.nccl) {
        std::lock_guard<std::mutex> lock(m.nccl_mutex);
        m.init_nccl();
        check_nccl(ncclGroupStart(), "ncclGroupStart");
        for (int i = 0; i < n_shards; ++i) {
          const int r = m.rank[static_cast<std::size_t>(i)];
          if (r == 0) continue;
          const ncclComm_t src = m.comms[static_cast<std::size_t>(r)];
          const cudaStream_t ss = m.nccl_streams[static_cast<std::size_t>(r)];
          check_nccl(
              ncclSend(own_d[static_cast<std::size_t>(i)].data(), slot, ncclFloat32, 0, src, ss),
              "ncclSend");
          check_nccl(
              ncclSend(own_l[static_cast<std::size_t>(i)].data(), slot, ncclInt64, 0, src, ss),
              "ncclSend");
          check_nccl(ncclRecv(gathered_d.data() + slot * i, slot, ncclFloat32, r, m.comms[0],
                              m.nccl_streams[0]),
                     "ncclRecv");
          check_nccl(ncclRecv(gathered_l.data() + slot * i, slot, ncclInt64, r, m.comms[0],
                              m.nccl_streams[0]),
                     "ncclRecv");
        }
        check_nccl(ncclGroupEnd(), "ncclGroupEnd");
        for (std::size_t r = 0; r < m.distinct.size(); ++r) {
          DeviceGuard g(m.distinct[r]);
          KNNX_CUDA_CHECK(cudaStreamSynchronize(m.nccl_streams[r]));
        }
      }
#endif
    } catch (...) {
      release_own();
      throw;
    }
    release_own();

    launch_shard_merge(gathered_d.data(), gathered_l.data(), n_shards, static_cast<int>(bq), k,
                       metric, out_d.data(), out_l.data(), s0, sync);
    KNNX_CUDA_CHECK(cudaMemcpyAsync(distances + q0 * k, out_d.data(), slot * sizeof(float),
                                    cudaMemcpyDeviceToHost, s0));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(labels + q0 * k, out_l.data(), slot * sizeof(std::int64_t),
                                    cudaMemcpyDeviceToHost, s0));
    lease0->synchronize();
  }
}

}  // namespace knnx::cuda
