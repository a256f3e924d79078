#include "index/device_workers.hpp"

#include "core/check.hpp"

namespace knnx::detail {

DeviceWorkers::DeviceWorkers(int n) {
  require(n >= 1, "a multi-device index needs at least one worker, got {}", n);
  workers_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    Worker* raw = w.get();
    w->thread = std::jthread([raw] { loop(*raw); });
    workers_.push_back(std::move(w));
  }
}

DeviceWorkers::~DeviceWorkers() {
  for (auto& w : workers_) {
    {
      std::lock_guard<std::mutex> lock(w->mutex);
      w->stop = true;
    }
    w->wake.notify_one();
  }
  for (auto& w : workers_) w->thread.join();
}

void DeviceWorkers::loop(Worker& w) {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(w.mutex);
      w.wake.wait(lock, [&] { return w.stop || !w.queue.empty(); });
      if (w.queue.empty()) return;  // stop requested and nothing left
      task = std::move(w.queue.front());
      w.queue.pop_front();
    }
    task();  // never throws: run_on wraps every task
  }
}

void DeviceWorkers::run_all(const std::function<void(int)>& task) {
  std::vector<int> all(workers_.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  run_on(all, task);
}

void DeviceWorkers::run_on(const std::vector<int>& workers, const std::function<void(int)>& task) {
  if (workers.empty()) return;
  for (const int i : workers)
    require(i >= 0 && i < size(), "worker {} out of range [0, {})", i, size());
  if (workers.size() == 1) {  // nothing to overlap: run on the caller's thread
    task(workers[0]);
    return;
  }
  struct Join {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t left;
    std::vector<std::exception_ptr> errors;
  };
  Join join;
  join.left = workers.size();
  join.errors.resize(workers.size());
  for (std::size_t j = 0; j < workers.size(); ++j) {
    const int i = workers[j];
    Worker& w = *workers_[static_cast<std::size_t>(i)];
    {
      std::lock_guard<std::mutex> lock(w.mutex);
      w.queue.emplace_back([&join, &task, i, j] {
        std::exception_ptr error;
        try {
          task(i);
        } catch (...) {
          error = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(join.mutex);
        join.errors[j] = error;
        if (--join.left == 0) join.done.notify_one();
      });
    }
    w.wake.notify_one();
  }
  std::unique_lock<std::mutex> lock(join.mutex);
  join.done.wait(lock, [&] { return join.left == 0; });
  for (const std::exception_ptr& e : join.errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace knnx::detail
