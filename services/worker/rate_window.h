// Token throughput over a sliding window of whole seconds (the WorkerStatus rates). Not
// thread-safe; the scheduler guards it.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace rwkv::worker {

class RateWindow {
 public:
  explicit RateWindow(int window_seconds = 10)
      : window_(window_seconds), buckets_(static_cast<size_t>(window_seconds)) {}

  void Add(absl::Time now, uint64_t prompt_tokens, uint64_t generated_tokens) {
    Bucket& b = BucketFor(absl::ToUnixSeconds(now));
    b.prompt += prompt_tokens;
    b.generated += generated_tokens;
  }

  struct Rates {
    double prompt_tokens_per_second = 0;
    double generated_tokens_per_second = 0;
  };
  // Tokens counted in the last `window_seconds` whole seconds (the current one included),
  // divided by the window length.
  Rates Get(absl::Time now) const {
    const int64_t sec = absl::ToUnixSeconds(now);
    uint64_t prompt = 0, generated = 0;
    for (const Bucket& b : buckets_) {
      if (b.second > sec - window_ && b.second <= sec) {
        prompt += b.prompt;
        generated += b.generated;
      }
    }
    return {static_cast<double>(prompt) / window_, static_cast<double>(generated) / window_};
  }

 private:
  struct Bucket {
    int64_t second = -1;
    uint64_t prompt = 0;
    uint64_t generated = 0;
  };
  Bucket& BucketFor(int64_t sec) {
    Bucket& b = buckets_[static_cast<size_t>(sec % window_)];
    if (b.second != sec) b = Bucket{sec, 0, 0};
    return b;
  }

  int window_;
  std::vector<Bucket> buckets_;
};

}  // namespace rwkv::worker
