#include "gateway/metrics.h"

#include "services/common/metrics_endpoint.h"

namespace rwkv::gateway {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

const char* ProtocolName(Protocol protocol) {
  return protocol == Protocol::kHttp ? "http" : "grpc";
}

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry)
    : requests_(
          prometheus::BuildCounter()
              .Name("rwkv_gateway_requests_total")
              .Help("Generate calls by protocol, model, pool of the serving worker and gRPC code")
              .Register(registry)),
      routed_(prometheus::BuildCounter()
                  .Name("rwkv_gateway_routing_decisions_total")
                  .Help("Requests sent to each worker (first tries and retries)")
                  .Register(registry)),
      retries_(prometheus::BuildCounter()
                   .Name("rwkv_gateway_retries_total")
                   .Help("Requests retried on another worker after failing before any token")
                   .Register(registry)
                   .Add({})),
      ttft_(
          prometheus::BuildHistogram()
              .Name("rwkv_gateway_time_to_first_token_seconds")
              .Help("Time from a Generate call's arrival to its first token, as the client sees it")
              .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("rwkv_gateway_request_duration_seconds")
                    .Help("Time from a Generate call's arrival to its end, as the client sees it")
                    .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("rwkv_gateway_streams_in_flight")
                     .Help("Generate streams open through the gateway")
                     .Register(registry)),
      healthy_(prometheus::BuildGauge()
                   .Name("rwkv_gateway_healthy_workers")
                   .Help("Workers in the rotation, by pool")
                   .Register(registry)),
      status_age_(prometheus::BuildGauge()
                      .Name("rwkv_gateway_worker_status_age_seconds")
                      .Help("Seconds since each worker's last status message")
                      .Register(registry)),
      grpc_(Series(Protocol::kGrpc)),
      http_(Series(Protocol::kHttp)) {}

GatewayMetrics::ProtocolSeries GatewayMetrics::Series(Protocol protocol) {
  const prometheus::Labels labels = {{"protocol", ProtocolName(protocol)}};
  return {&ttft_.Add(labels, services::buckets::LatencySeconds()),
          &duration_.Add(labels, services::buckets::LatencySeconds()), &in_flight_.Add(labels)};
}

void GatewayMetrics::RequestFinished(Protocol protocol, const std::string& model,
                                     const std::string& pool, grpc::StatusCode code) {
  requests_
      .Add({{"protocol", ProtocolName(protocol)},
            {"model", model.empty() ? "unknown" : model},
            {"pool", pool.empty() ? "none" : pool},
            {"code", StatusCodeName(code)}})
      .Increment();
}

void GatewayMetrics::Routed(const std::string& worker) {
  routed_.Add({{"worker", worker}}).Increment();
}

void GatewayMetrics::SetHealthyWorkers(const std::map<std::string, int>& by_pool) {
  absl::MutexLock lock(&mu_);
  for (auto& [pool, gauge] : healthy_by_pool_) gauge->Set(0);
  for (const auto& [pool, count] : by_pool) {
    prometheus::Gauge*& gauge = healthy_by_pool_[pool];
    if (gauge == nullptr) gauge = &healthy_.Add({{"pool", pool}});
    gauge->Set(count);
  }
}

void GatewayMetrics::SetStatusAge(const std::string& worker, double seconds) {
  status_age_.Add({{"worker", worker}}).Set(seconds);
}

void GatewayMetrics::RemoveWorker(const std::string& worker) {
  status_age_.Remove(&status_age_.Add({{"worker", worker}}));
  routed_.Remove(&routed_.Add({{"worker", worker}}));
}

}  // namespace rwkv::gateway
