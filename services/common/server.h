// The shared gRPC server bootstrap used by every rwkv-* main.cc: listen (port 0 allowed, the
// bound port is logged and optionally written to a file), standard grpc.health.v1 service,
// server reflection (v1alpha, for grpcurl), and graceful drain on SIGTERM/SIGINT (received
// as described in termination_signals.h; a second one during the drain exits at once):
//   1. health turns NOT_SERVING for every service,
//   2. the component's drain hook stops taking new work and finishes (or cancels) what runs,
//   3. the server stops accepting calls and waits for in-flight calls until the deadline,
//   4. RunServer returns OK and main exits 0.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "services/common/termination_signals.h"

namespace rwkv::services {

struct ServerOptions {
  // "host:port"; port 0 picks a free port.
  std::string listen = "0.0.0.0:50051";
  // When set, the bound port (decimal, newline) is written here atomically after start.
  std::string port_file;
  // Time from the signal until in-flight work is cancelled.
  absl::Duration drain_timeout = absl::Seconds(30);
  // Largest accepted request message.
  int max_receive_message_bytes = 16 << 20;
  // Listening credentials (TLS); null = plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

struct ServerHooks {
  // Runs on the signal, after health went NOT_SERVING; must return by `deadline`.
  std::function<void(absl::Time deadline)> drain;
};

// A started server. The services must outlive it.
class GrpcServer {
 public:
  // Unavailable naming the address when it cannot listen.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const ServerOptions& options, const std::vector<grpc::Service*>& services);
  ~GrpcServer();

  int port() const { return port_; }
  grpc::Server& server() { return *server_; }

  // Steps 1-3 of the drain above. Idempotent.
  void Drain(absl::Time deadline, const ServerHooks& hooks);

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, int port)
      : server_(std::move(server)), port_(port) {}

  std::unique_ptr<grpc::Server> server_;
  int port_;
  bool drained_ = false;
};

// Start, log "<listen> -> port N", wait for a signal, drain, return. Errors only from Start.
absl::Status RunServer(const ServerOptions& options, const std::vector<grpc::Service*>& services,
                       const ServerHooks& hooks);

}  // namespace rwkv::services
