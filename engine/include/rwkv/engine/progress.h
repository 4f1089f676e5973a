// Progress reporting and cancellation shared by long-running file jobs (quantize, convert).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace rwkv::engine {

struct JobProgress {
  uint64_t tensors_done = 0;
  uint64_t tensors_total = 0;
  uint64_t bytes_done = 0;   // output bytes written so far
  uint64_t bytes_total = 0;  // expected output bytes
};

// Called from the working thread after each tensor; must be cheap and thread-safe.
using ProgressFn = std::function<void(const JobProgress&)>;

// A job polls `cancel` between tensors (and inside large tensors); once it reads true it stops,
// removes its temporary output and returns absl::CancelledError.
struct JobControl {
  ProgressFn progress;
  const std::atomic<bool>* cancel = nullptr;

  bool cancelled() const { return cancel != nullptr && cancel->load(std::memory_order_relaxed); }
  void Report(const JobProgress& p) const {
    if (progress) progress(p);
  }
};

}  // namespace rwkv::engine
