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

// How a client reached the gateway: the `protocol` label of the request metrics.
enum class Protocol { kGrpc, kHttp };
// "grpc", "http".
const char* ProtocolName(Protocol protocol);

class GatewayMetrics {
 public:
  explicit GatewayMetrics(prometheus::Registry& registry);

  // One Generate call ended with `code`; `model`/`pool` empty = "unknown"/"none". HTTP
  // requests count with the gRPC code their HTTP status stands for.
  void RequestFinished(Protocol protocol, const std::string& model, const std::string& pool,
                       grpc::StatusCode code);
  // A request (first try or retry) was sent to `worker`.
  void Routed(const std::string& worker);
  void Retried() { retries_.Increment(); }
  // Seconds from the call's arrival to the first token written / the end of the stream.
  void ObserveTimeToFirstToken(Protocol protocol, double seconds) {
    Of(protocol).ttft->Observe(seconds);
  }
  void ObserveRequestDuration(Protocol protocol, double seconds) {
    Of(protocol).duration->Observe(seconds);
  }
  void StreamStarted(Protocol protocol) { Of(protocol).in_flight->Increment(); }
  void StreamEnded(Protocol protocol) { Of(protocol).in_flight->Decrement(); }
  // Replaces the healthy-worker counts (pools missing from `by_pool` drop to 0).
  void SetHealthyWorkers(const std::map<std::string, int>& by_pool);
  // Seconds since `worker`'s last status message.
  void SetStatusAge(const std::string& worker, double seconds);
  // Drops the per-worker series of a worker that left discovery.
  void RemoveWorker(const std::string& worker);

 private:
  // The per-protocol series, created up front so both protocols are always exposed.
  struct ProtocolSeries {
    prometheus::Histogram* ttft;
    prometheus::Histogram* duration;
    prometheus::Gauge* in_flight;
  };
  ProtocolSeries& Of(Protocol protocol) { return protocol == Protocol::kHttp ? http_ : grpc_; }
  ProtocolSeries Series(Protocol protocol);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& routed_;
  prometheus::Counter& retries_;
  prometheus::Family<prometheus::Histogram>& ttft_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& healthy_;
  prometheus::Family<prometheus::Gauge>& status_age_;
  ProtocolSeries grpc_;
  ProtocolSeries http_;
  absl::Mutex mu_;
  std::map<std::string, prometheus::Gauge*> healthy_by_pool_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::gateway
