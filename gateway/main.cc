// rwkv-gateway: the cluster's one address. Discovers workers, watches their health and load,
// routes each Generate by model, pool and expected wait (sessions by rendezvous hashing) and
// relays the stream. See gateway/README.md.
#include <cstdio>
#include <string>

#include "gateway/gateway_app.h"
#include "services/common/flags.h"
#include "services/common/log.h"

int main(int argc, char** argv) {
  namespace svc = rwkv::services;
  namespace gw = rwkv::gateway;
  svc::SetLogProgram("rwkv-gateway");
  gw::GatewayConfig config;
  svc::ServerOptions server;
  server.listen = "0.0.0.0:50051";
  config.metrics_listen = "0.0.0.0:9101";
  svc::FlagSet flags("rwkv-gateway", "Routes rwkv.v1.Inference calls to a cluster of workers.");
  flags.AddString("listen", &server.listen, "gRPC address host:port (port 0 = any free port)");
  flags.AddString("metrics-listen", &config.metrics_listen,
                  "Prometheus /metrics address; empty = off");
  flags.AddString("http-listen", &config.http_listen,
                  "OpenAI-compatible HTTP address host:port (port 0 = any free port); empty = off");
  flags.AddString("port-file", &server.port_file, "write the bound gRPC port to this file");
  flags.AddString("workers", &config.workers, "static workers host:port[,host:port...]");
  flags.AddString("worker-dns", &config.worker_dns,
                  "DNS names NAME:PORT[,...] re-resolved periodically (one worker per address)");
  flags.AddDuration("dns-interval", &config.dns_interval, "re-resolution period of --worker-dns");
  flags.AddString("hosts-file", &config.hosts_file,
                  "resolve --worker-dns names from this hosts-format file instead of DNS");
  flags.AddString("converter", &config.converter, "rwkv-converter host:port to forward Jobs to");
  flags.AddString("auth-token-file", &config.auth_token_file,
                  "bearer tokens, one per line (re-read on change); empty = no authentication");
  flags.AddString("tls-cert", &config.tls_cert, "PEM certificate chain for TLS");
  flags.AddString("tls-key", &config.tls_key, "PEM private key for TLS");
  flags.AddString("default-pool", &config.default_pool,
                  "pool of Generate requests naming no pool or backend; empty = any pool");
  flags.AddInt("max-streams", &config.max_streams, "open Generate streams, 0 = unlimited");
  flags.AddInt("max-tokens-cap", &config.max_tokens_cap, "upper bound of max_tokens, 0 = none");
  flags.AddDuration("drain-timeout", &server.drain_timeout, "SIGTERM grace for open streams");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    if (!s.ok()) std::fprintf(stderr, "rwkv-gateway: %s\n", std::string(s.message()).c_str());
    std::fprintf(s.ok() ? stdout : stderr, "%s", flags.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  if (absl::Status s = gw::ValidateConfig(config); !s.ok()) {
    std::fprintf(stderr, "rwkv-gateway: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::Status s = gw::RunGateway(config, server);
  if (!s.ok()) svc::LogLine(std::string(s.message()));
  return s.ok() ? 0 : 1;
}
