// knnx/shared_mutex.hpp — SharedMutex: the reader/writer lock to guard an Index that several
// threads use, searches shared and writers (train, add, add_with_ids, remove_ids, reset)
// exclusive, as the Index thread-safety contract asks (knnx/index.hpp).
//
// Unlike std::shared_mutex on glibc (a pthread rwlock that prefers readers), a writer that is
// waiting keeps new readers out: once add() asks for the lock, searches that start later wait
// until it has run, so a steady stream of overlapping searches cannot starve a writer. Readers
// already holding the lock finish first. Consecutive writers go before waiting readers.
//
// Meets the standard SharedMutex requirements: use it with std::unique_lock and
// std::shared_lock.
#pragma once

#include <condition_variable>
#include <mutex>
#include <shared_mutex>  // std::shared_lock

namespace knnx {

class SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() {
    std::unique_lock<std::mutex> guard(mutex_);
    ++writers_waiting_;
    writer_cv_.wait(guard, [this] { return !writer_active_ && readers_ == 0; });
    --writers_waiting_;
    writer_active_ = true;
  }

  bool try_lock() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (writer_active_ || readers_ > 0) return false;
    writer_active_ = true;
    return true;
  }

  void unlock() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      writer_active_ = false;
    }
    writer_cv_.notify_one();
    reader_cv_.notify_all();
  }

  void lock_shared() {
    std::unique_lock<std::mutex> guard(mutex_);
    reader_cv_.wait(guard, [this] { return !writer_active_ && writers_waiting_ == 0; });
    ++readers_;
  }

  bool try_lock_shared() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (writer_active_ || writers_waiting_ > 0) return false;
    ++readers_;
    return true;
  }

  void unlock_shared() {
    bool last = false;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      last = --readers_ == 0 && writers_waiting_ > 0;
    }
    if (last) writer_cv_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable reader_cv_;
  std::condition_variable writer_cv_;
  long readers_ = 0;          // threads holding the lock shared
  long writers_waiting_ = 0;  // threads blocked in lock()
  bool writer_active_ = false;
};

}  // namespace knnx
