// The whole rwkv-gateway process behind main.cc: metrics endpoint, worker discovery and
// watches, the gRPC server (Inference, Jobs when a converter is configured, health,
// reflection; TLS when configured), the OpenAI-compatible HTTP front when configured, and the
// SIGTERM drain.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/common/server.h"

namespace rwkv::gateway {

struct GatewayConfig {
  // "host:port,..." (static workers) and "NAME:PORT,..." (DNS names); at least one is needed.
  std::string workers;
  std::string worker_dns;
  // Re-resolution period of worker_dns.
  absl::Duration dns_interval = absl::Seconds(5);
  // Resolve worker_dns names from this hosts-format file instead of the system resolver.
  std::string hosts_file;
  // "host:port" of rwkv-converter; empty = no Jobs service.
  std::string converter;
  std::string auth_token_file;
  std::string tls_cert;
  std::string tls_key;
  // 0 = unlimited / no cap.
  int64_t max_streams = 0;
  int64_t max_tokens_cap = 0;
  // Empty = no metrics endpoint.
  std::string metrics_listen;
  // "host:port" of the OpenAI-compatible HTTP front (plaintext; not with tls_cert); empty = off.
  std::string http_listen;
  // Pool of Generate requests that name neither a pool nor a backend; empty = any pool.
  std::string default_pool;
};

// Checks the configuration without starting anything: INVALID_ARGUMENT naming the flag.
absl::Status ValidateConfig(const GatewayConfig& config);

// Serves until SIGTERM/SIGINT, then drains: health NOT_SERVING, new calls UNAVAILABLE, open
// streams get until server.drain_timeout to finish, then are cancelled. OK after a clean
// drain; an error when the configuration is invalid or something cannot listen.
absl::Status RunGateway(const GatewayConfig& config, services::ServerOptions server);

}  // namespace rwkv::gateway
