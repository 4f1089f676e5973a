// Every Prometheus metric of rwkv-gateway (catalogue: docs/metrics.md, "Gateway"). Registered
// once against an injected registry and kept by reference. Label values come from bounded
// sets: models and pools that workers report (a request for an unknown model counts under
// model="unknown"), gRPC code names, and worker addresses, whose series are removed when the
// worker leaves discovery. Thread-safe.
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace rwkv::gateway {

// "OK", "UNAVAILABLE", ... as gRPC spells the codes.
const char* StatusCodeName(grpc::StatusCode code);

class GatewayMetrics {
 public:
  explicit GatewayMetrics(prometheus::Registry& registry);

  // One Generate call ended with `code`; `model`/`pool` empty = "unknown"/"none".
  void RequestFinished(const std::string& model, const std::string& pool, grpc::StatusCode code);
  // A request (first try or retry) was sent to `worker`.
  void Routed(const std::string& worker);
  void Retried() { retries_.Increment(); }
  // Seconds from the call's arrival to the first token written / the end of the stream.
  void ObserveTimeToFirstToken(double seconds) { ttft_.Observe(seconds); }
  void ObserveRequestDuration(double seconds) { duration_.Observe(seconds); }
  void StreamStarted() { in_flight_.Increment(); }
  void StreamEnded() { in_flight_.Decrement(); }
  // Replaces the healthy-worker counts (pools missing from `by_pool` drop to 0).
  void SetHealthyWorkers(const std::map<std::string, int>& by_pool);
  // Seconds since `worker`'s last status message.
  void SetStatusAge(const std::string& worker, double seconds);
  // Drops the per-worker series of a worker that left discovery.
  void RemoveWorker(const std::string& worker);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& routed_;
  prometheus::Counter& retries_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& duration_;
  prometheus::Gauge& in_flight_;
  prometheus::Family<prometheus::Gauge>& healthy_;
  prometheus::Family<prometheus::Gauge>& status_age_;
  absl::Mutex mu_;
  std::map<std::string, prometheus::Gauge*> healthy_by_pool_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::gateway
