// index/device_workers.hpp — one host thread per sub-index of a multi-device index, so that the
// sub-indexes of IndexShards and IndexReplicas work at the same time (each device gets its own
// host thread, and through it its own CUDA context and streams).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace knnx::detail {

class DeviceWorkers {
 public:
  // n >= 1 workers, each a std::jthread waiting for tasks.
  explicit DeviceWorkers(int n);
  ~DeviceWorkers();  // finishes the queued tasks, then joins
  DeviceWorkers(const DeviceWorkers&) = delete;
  DeviceWorkers& operator=(const DeviceWorkers&) = delete;

  int size() const { return static_cast<int>(workers_.size()); }

  // Runs task(i) on worker i for every i in [0, size()) and waits for all of them. Rethrows the
  // exception of the lowest-numbered worker that threw (after every task has finished). Safe to
  // call from several threads at once: each worker runs its tasks one after another, in order of
  // submission.
  void run_all(const std::function<void(int)>& task);

  // The same for a subset: task(i) on worker i for each listed i (ascending, no repeats).
  void run_on(const std::vector<int>& workers, const std::function<void(int)>& task);

 private:
  struct Worker {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> queue;
    bool stop = false;
    std::jthread thread;
  };
  static void loop(Worker& w);

  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace knnx::detail
