// RWKV_CUDA_PROFILE=1: the CUDA stream times every op it launches with a pair of CUDA events
// (eager launches, no graphs) and prints, when the stream is destroyed, the GPU time per op kind
// and shape, largest first. What a decode step spends where, without Nsight.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rwkv::engine::cuda {

class OpProfile {
 public:
  static bool Enabled();

  OpProfile() = default;
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;
  ~OpProfile();

  // The next op enqueued: its kind (the stream's op number) and shape detail.
  void Label(int op, std::string detail);
  // Records the event before op i of the step being launched; End() the one after the last.
  void Before(size_t i, cudaStream_t stream);
  void End(cudaStream_t stream);
  // After the stream synchronized: adds the recorded ops' times to the totals.
  void Collect();
  void Print() const;

 private:
  struct Total {
    int64_t calls = 0;
    double ms = 0;
  };
  cudaEvent_t Event(size_t i);

  std::vector<std::string> labels_;
  std::vector<cudaEvent_t> events_;
  size_t recorded_ = 0;  // events recorded in the step (ops + 1 once ended)
  std::map<std::string, Total> totals_;
};

}  // namespace rwkv::engine::cuda
