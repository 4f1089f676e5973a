#include "quant/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace rwkv::engine::quant {

absl::Status ParallelFor(int64_t n, int64_t grain, int threads,
                         const std::function<absl::Status(int64_t, int64_t)>& fn,
                         const std::function<bool()>& stop, const absl::Status& stop_status) {
  if (n <= 0) return absl::OkStatus();
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = (n + grain - 1) / grain;
  const int workers = static_cast<int>(std::clamp<int64_t>(threads, 1, chunks));

  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  absl::Mutex mu;
  absl::Status first_error;
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      if (stop && stop()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = stop_status;
        failed = true;
        return;
      }
      const int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      const int64_t begin = c * grain;
      absl::Status s = fn(begin, std::min(n, begin + grain));
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = std::move(s);
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int t = 1; t < workers; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // out of threads: the ones already started (and the caller) finish the work
    }
  }
  work();
  for (auto& t : pool) t.join();
  absl::MutexLock lock(&mu);
  return first_error;
}

}  // namespace rwkv::engine::quant
