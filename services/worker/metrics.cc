#include "services/worker/metrics.h"

#include <map>

#include "services/common/metrics_endpoint.h"

namespace rwkv::worker {
namespace {

using Labels = std::map<std::string, std::string>;
namespace buckets = ::rwkv::services::buckets;

prometheus::Histogram::BucketBoundaries TokenCountBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

prometheus::Counter& Counter(prometheus::Registry& r, const Labels& labels, const char* name,
                             const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Labels(labels).Register(r).Add({});
}

prometheus::Gauge& Gauge(prometheus::Registry& r, const Labels& labels, const char* name,
                         const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Labels(labels).Register(r).Add({});
}

prometheus::Histogram& Histogram(prometheus::Registry& r, const Labels& labels, const char* name,
                                 const char* help,
                                 const prometheus::Histogram::BucketBoundaries& bounds) {
  return prometheus::BuildHistogram().Name(name).Help(help).Labels(labels).Register(r).Add({},
                                                                                           bounds);
}

}  // namespace

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kLength:
      return "length";
    case Outcome::kStop:
      return "stop";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kDeadline:
      return "deadline";
    case Outcome::kError:
      return "error";
    case Outcome::kQueueFull:
      return "queue_full";
    case Outcome::kInvalid:
      return "invalid";
    case Outcome::kUnavailable:
      return "unavailable";
  }
  return "error";
}

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry, const std::string& model,
                             const std::string& backend, const std::string& pool)
    : WorkerMetrics(registry, {{"model", model}, {"backend", backend}, {"pool", pool}}) {}

WorkerMetrics::WorkerMetrics(prometheus::Registry& r, const prometheus::Labels& l)
    : queue_time_(Histogram(r, l, "rwkv_worker_queue_time_seconds",
                            "Time from arrival until a batch slot was assigned",
                            buckets::LatencySeconds())),
      ttft_(Histogram(r, l, "rwkv_worker_time_to_first_token_seconds",
                      "Time from arrival until the first generated token",
                      buckets::LatencySeconds())),
      inter_token_(Histogram(r, l, "rwkv_worker_inter_token_latency_seconds",
                             "Time between two consecutive generated tokens of one request",
                             buckets::TokenSeconds())),
      duration_(Histogram(r, l, "rwkv_worker_request_duration_seconds",
                          "Time from arrival until the final message of Generate",
                          buckets::LatencySeconds())),
      batch_size_(Histogram(r, l, "rwkv_worker_batch_size",
                            "Sequences evaluated together in one forward step",
                            buckets::BatchSize())),
      batch_tokens_(Histogram(r, l, "rwkv_worker_batch_tokens",
                              "Tokens (prompt chunks and decoded tokens) in one forward step",
                              TokenCountBuckets())),
      step_decode_tokens_(Histogram(r, l, "rwkv_worker_step_decode_tokens",
                                    "Decode tokens (one per decoding sequence) in one forward step",
                                    TokenCountBuckets())),
      step_prompt_tokens_(Histogram(
          r, l, "rwkv_worker_step_prompt_tokens",
          "Prompt tokens (chunks of prompts in prefill) in one forward step", TokenCountBuckets())),
      step_token_budget_(Gauge(r, l, "rwkv_worker_step_token_budget",
                               "Tokens one forward step may evaluate (--step-tokens)")),
      prefill_steps_(Counter(r, l, "rwkv_worker_prefill_steps_total",
                             "Forward steps that carried prompt tokens")),
      step_duration_(Histogram(r, l, "rwkv_worker_step_duration_seconds",
                               "Wall time of one batched forward step", buckets::TokenSeconds())),
      prompt_tokens_(Counter(r, l, "rwkv_worker_prompt_tokens_total",
                             "Prompt tokens evaluated (including session carry-over tokens)")),
      generated_tokens_(Counter(r, l, "rwkv_worker_generated_tokens_total", "Tokens sampled")),
      steps_(Counter(r, l, "rwkv_worker_steps_total", "Batched forward steps run")),
      running_(Gauge(r, l, "rwkv_worker_running_requests", "Requests holding a batch slot")),
      waiting_(
          Gauge(r, l, "rwkv_worker_waiting_requests", "Requests waiting in the queue for a slot")),
      slots_(Gauge(r, l, "rwkv_worker_slots", "Batch slots (concurrent sequences) configured")),
      slot_utilization_(Gauge(r, l, "rwkv_worker_slot_utilization_ratio",
                              "Busy batch slots divided by configured slots")),
      model_loaded_(
          Gauge(r, l, "rwkv_worker_model_loaded", "1 once the model is loaded and serving")),
      model_load_seconds_(
          Gauge(r, l, "rwkv_worker_model_load_seconds", "Time the model load took")),
      sessions_evicted_(Counter(r, l, "rwkv_worker_session_evictions_total",
                                "Session states dropped to respect the byte budget or expiry")),
      session_entries_(Gauge(r, l, "rwkv_worker_sessions", "Session states held in memory")),
      session_bytes_(Gauge(r, l, "rwkv_worker_session_bytes", "Bytes of session states held")) {
  auto& requests = prometheus::BuildCounter()
                       .Name("rwkv_worker_requests_total")
                       .Help("Generate requests by outcome")
                       .Labels(l)
                       .Register(r);
  for (size_t i = 0; i < kOutcomeCount; ++i) {
    requests_[i] = &requests.Add({{"outcome", OutcomeName(static_cast<Outcome>(i))}});
  }
}

void WorkerMetrics::ObserveStep(size_t sequences, size_t decode_tokens, size_t prompt_tokens,
                                double seconds) {
  batch_size_.Observe(static_cast<double>(sequences));
  batch_tokens_.Observe(static_cast<double>(decode_tokens + prompt_tokens));
  step_decode_tokens_.Observe(static_cast<double>(decode_tokens));
  step_prompt_tokens_.Observe(static_cast<double>(prompt_tokens));
  if (prompt_tokens > 0) prefill_steps_.Increment();
  step_duration_.Observe(seconds);
  steps_.Increment();
}

void WorkerMetrics::SetLoad(size_t running, size_t waiting, size_t capacity) {
  running_.Set(static_cast<double>(running));
  waiting_.Set(static_cast<double>(waiting));
  slots_.Set(static_cast<double>(capacity));
  slot_utilization_.Set(
      capacity == 0 ? 0.0 : static_cast<double>(running) / static_cast<double>(capacity));
}

void WorkerMetrics::SetModelLoaded(bool loaded, double load_seconds) {
  model_loaded_.Set(loaded ? 1.0 : 0.0);
  model_load_seconds_.Set(load_seconds);
}

void WorkerMetrics::SetSessionCache(size_t entries, size_t bytes) {
  session_entries_.Set(static_cast<double>(entries));
  session_bytes_.Set(static_cast<double>(bytes));
}

}  // namespace rwkv::worker
