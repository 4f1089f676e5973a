// A persistent pool of worker threads for the CPU backend. The calling thread takes part in
// every parallel region, so a pool of N threads starts N-1 workers. Work is handed out in
// chunks on demand, and a worker that wakes after the caller has run out of chunks simply
// skips the region: a busy or oversubscribed machine delays nothing but the late worker's
// share. Workers spin briefly between regions (decode issues hundreds of small regions per
// token) and then sleep.
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

  // Runs fn(begin, end) over [0, n) in chunks of `grain` items and returns when every chunk
  // is done. Chunks may run on any thread, in any order. Not reentrant.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  // The current region.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> open_{false};
  std::atomic<int> active_{0};
  // Wake-up of idle workers.
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace rwkv::engine::cpu
