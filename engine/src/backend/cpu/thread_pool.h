// A persistent pool of worker threads for the CPU backend. The calling thread takes part in
// every parallel region, so a pool of N threads starts N-1 workers. Workers spin briefly
// after a region (decode issues hundreds of small regions per token) and then sleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rwkv::engine::cpu {

class ThreadPool {
 public:
  // n_threads <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index) once on every thread of the pool (index 0 is the caller) and
  // returns when all have finished. Not reentrant.
  void Run(const std::function<void(int)>& fn);

  // Runs fn(begin, end) over [0, n) in chunks of `grain` items, handed out dynamically.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
};

}  // namespace rwkv::engine::cpu
