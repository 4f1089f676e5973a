// Every Prometheus metric of rwkv-worker (catalogue: docs/metrics-worker.md). Registered once
// against an injected registry; the children of every bounded label value are created up
// front and kept, so the engine thread never looks anything up. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"

namespace rwkv::worker {

// How a request ended; the `outcome` label of rwkv_worker_requests_total.
enum class Outcome {
  kLength,       // max_tokens reached
  kStop,         // stop string, stop token or end of generation
  kCancelled,    // the client cancelled or went away
  kDeadline,     // the deadline passed
  kError,        // failed while running
  kQueueFull,    // refused: wait queue full
  kInvalid,      // refused: bad request (INVALID_ARGUMENT / NOT_FOUND / busy session ABORTED)
  kUnavailable,  // refused: loading or draining
};
inline constexpr size_t kOutcomeCount = 8;
const char* OutcomeName(Outcome outcome);

class WorkerMetrics {
 public:
  // Constant labels model, backend and pool go on every series.
  WorkerMetrics(prometheus::Registry& registry, const std::string& model,
                const std::string& backend, const std::string& pool);

  void RequestFinished(Outcome outcome) { requests_[static_cast<size_t>(outcome)]->Increment(); }
  void ObserveQueueTime(double seconds) { queue_time_.Observe(seconds); }
  void ObserveTimeToFirstToken(double seconds) { ttft_.Observe(seconds); }
  void ObserveInterTokenLatency(double seconds) { inter_token_.Observe(seconds); }
  void ObserveRequestDuration(double seconds) { duration_.Observe(seconds); }
  // One forward step: sequences in it, decode tokens and prompt tokens in it, wall time.
  void ObserveStep(size_t sequences, size_t decode_tokens, size_t prompt_tokens, double seconds);
  // Tokens one step may evaluate (--step-tokens).
  void SetStepTokenBudget(size_t tokens) { step_token_budget_.Set(static_cast<double>(tokens)); }
  void AddPromptTokens(double n) { prompt_tokens_.Increment(n); }
  void AddGeneratedTokens(double n) { generated_tokens_.Increment(n); }
  void SetLoad(size_t running, size_t waiting, size_t capacity);
  void SetModelLoaded(bool loaded, double load_seconds);
  void SessionEvicted() { sessions_evicted_.Increment(); }
  void SetSessionCache(size_t entries, size_t bytes);

 private:
  WorkerMetrics(prometheus::Registry& registry, const prometheus::Labels& labels);

  std::array<prometheus::Counter*, kOutcomeCount> requests_{};
  prometheus::Histogram& queue_time_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& inter_token_;
  prometheus::Histogram& duration_;
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& batch_tokens_;
  prometheus::Histogram& step_decode_tokens_;
  prometheus::Histogram& step_prompt_tokens_;
  prometheus::Gauge& step_token_budget_;
  prometheus::Counter& prefill_steps_;
  prometheus::Histogram& step_duration_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generated_tokens_;
  prometheus::Counter& steps_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& slots_;
  prometheus::Gauge& slot_utilization_;
  prometheus::Gauge& model_loaded_;
  prometheus::Gauge& model_load_seconds_;
  prometheus::Counter& sessions_evicted_;
  prometheus::Gauge& session_entries_;
  prometheus::Gauge& session_bytes_;
};

}  // namespace rwkv::worker
