#include "backend/cuda/op_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace rwkv::engine::cuda {
namespace {

const char* OpName(int op) {
  static const char* const kNames[] = {"?",           "embed",
                                       "layer_norm",  "group_norm_mul",
                                       "shift_delta", "lerp",
                                       "matmul",      "decay",
                                       "wkv6",        "mul_add",
                                       "scale",       "gather_rows",
                                       "read_rows",   "norm_shift_lerps",
                                       "shift_lerps", "lora_lerps",
                                       "matvecs",     "wkv6_group_norm"};
  constexpr int kCount = static_cast<int>(sizeof(kNames) / sizeof(kNames[0]));
  return op > 0 && op < kCount ? kNames[op] : kNames[0];
}

}  // namespace

bool OpProfile::Enabled() {
  const char* env = std::getenv("RWKV_CUDA_PROFILE");
  return env != nullptr && env[0] != '\0' && env[0] != '0';
}

OpProfile::~OpProfile() {
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

void OpProfile::Label(int op, std::string detail) {
  std::string label = OpName(op);
  if (!detail.empty()) label += " " + detail;
  labels_.push_back(std::move(label));
}

cudaEvent_t OpProfile::Event(size_t i) {
  while (events_.size() <= i) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreate(&e) != cudaSuccess) return nullptr;
    events_.push_back(e);
  }
  return events_[i];
}

void OpProfile::Before(size_t i, cudaStream_t stream) {
  if (cudaEvent_t e = Event(i); e != nullptr && cudaEventRecord(e, stream) == cudaSuccess) {
    recorded_ = i + 1;
  }
}

void OpProfile::End(cudaStream_t stream) { Before(recorded_, stream); }

void OpProfile::Collect() {
  const size_t ops = recorded_ > 0 ? std::min(recorded_ - 1, labels_.size()) : 0;
  for (size_t i = 0; i < ops; ++i) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, events_[i], events_[i + 1]) != cudaSuccess) continue;
    Total& t = totals_[labels_[i]];
    ++t.calls;
    t.ms += ms;
  }
  cudaGetLastError();
  labels_.clear();
  recorded_ = 0;
}

void OpProfile::Print() const {
  std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double all = 0;
  int64_t calls = 0;
  for (const auto& [label, t] : rows) all += t.ms, calls += t.calls;
  std::fprintf(stderr, "cuda profile: %lld ops, %.3f ms of GPU time\n",
               static_cast<long long>(calls), all);
  std::fprintf(stderr, "%10s %10s %9s %6s  %s\n", "calls", "total ms", "mean us", "share", "op");
  for (const auto& [label, t] : rows) {
    std::fprintf(stderr, "%10lld %10.3f %9.2f %5.1f%%  %s\n", static_cast<long long>(t.calls), t.ms,
                 1000.0 * t.ms / static_cast<double>(t.calls), all > 0 ? 100.0 * t.ms / all : 0.0,
                 label.c_str());
  }
}

}  // namespace rwkv::engine::cuda
