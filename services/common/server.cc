#include "services/common/server.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "services/common/durable_file.h"
#include "services/common/log.h"
#include "services/common/termination_signals.h"

namespace rwkv::services {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  // gRPC's threads inherit the calling thread's mask; main should have blocked these already.
  BlockTerminationSignals();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      options.listen,
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (!options.port_file.empty()) {
    absl::Status s = WriteFileAtomically(options.port_file, absl::StrCat(port, "\n"));
    if (!s.ok()) {
      server->Shutdown(absl::ToChronoTime(absl::Now()));
      return s;
    }
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(server), port));
}

GrpcServer::~GrpcServer() {
  if (!drained_) Drain(absl::Now(), ServerHooks{});
}

void GrpcServer::Drain(absl::Time deadline, const ServerHooks& hooks) {
  if (drained_) return;
  drained_ = true;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->Shutdown();  // every service NOT_SERVING, further changes ignored
  }
  if (hooks.drain) hooks.drain(deadline);
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
}

absl::Status RunServer(const ServerOptions& options, const std::vector<grpc::Service*>& services,
                       const ServerHooks& hooks) {
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options, services);
  if (!server.ok()) return server.status();
  LogLine(absl::StrCat("serving gRPC on ", options.listen, " (port ", (*server)->port(), ")"));
  const int signo = WaitForTerminationSignal();
  ExitOnNextTerminationSignal();
  const absl::Time deadline = absl::Now() + options.drain_timeout;
  LogLine(absl::StrCat("signal ", signo, ": draining for up to ",
                       absl::FormatDuration(options.drain_timeout)));
  (*server)->Drain(deadline, hooks);
  LogLine("drained, exiting");
  return absl::OkStatus();
}

}  // namespace rwkv::services
