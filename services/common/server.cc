#include "services/common/server.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "services/common/durable_file.h"
#include "services/common/log.h"

namespace rwkv::services {
namespace {

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int signo) {
  const unsigned char byte = static_cast<unsigned char>(signo);
  // Only async-signal-safe calls here; a full pipe just means a signal is already pending.
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
}

void InstallSignalHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
    struct sigaction sa = {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  // Handlers go in before gRPC starts its threads so no signal ever hits the default action.
  InstallSignalHandlers();
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

int WaitForTerminationSignal() {
  InstallSignalHandlers();
  unsigned char byte = 0;
  while (true) {
    const ssize_t n = ::read(g_signal_pipe[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;
  }
}

absl::Status RunServer(const ServerOptions& options, const std::vector<grpc::Service*>& services,
                       const ServerHooks& hooks) {
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options, services);
  if (!server.ok()) return server.status();
  LogLine(absl::StrCat("serving gRPC on ", options.listen, " (port ", (*server)->port(), ")"));
  const int signo = WaitForTerminationSignal();
  const absl::Time deadline = absl::Now() + options.drain_timeout;
  LogLine(absl::StrCat("signal ", signo, ": draining for up to ",
                       absl::FormatDuration(options.drain_timeout)));
  (*server)->Drain(deadline, hooks);
  LogLine("drained, exiting");
  return absl::OkStatus();
}

}  // namespace rwkv::services
