// The /metrics endpoint every server exposes (flag --metrics-listen), and the histogram bucket
// definitions shared by all components so dashboards can aggregate across them.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace rwkv::services {

// Shared buckets (docs/metrics.md). Returned by value: prometheus-cpp copies them anyway.
namespace buckets {
// Request-scale latencies (queue time, time to first token, RPC duration): 1 ms .. 60 s.
prometheus::Histogram::BucketBoundaries LatencySeconds();
// Per-token latencies (inter-token time): 1 ms .. 2 s.
prometheus::Histogram::BucketBoundaries TokenSeconds();
// Long jobs (conversion, quantization): 0.1 s .. 2 h.
prometheus::Histogram::BucketBoundaries JobSeconds();
// Batch sizes (sequences per forward step): 1 .. 256.
prometheus::Histogram::BucketBoundaries BatchSize();
}  // namespace buckets

// Serves `registry` on http://LISTEN/metrics. Keeps the registry alive.
class MetricsEndpoint {
 public:
  // `listen` is "host:port" (port 0 picks a free port). Unavailable naming the address when it
  // cannot bind, InvalidArgument when it is malformed.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry);

  // The bound TCP port.
  int port() const { return port_; }

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port)
      : exposer_(std::move(exposer)), port_(port) {}

  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
};

}  // namespace rwkv::services
